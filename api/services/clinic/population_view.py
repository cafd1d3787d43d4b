"""A clinic's population view: the aggregates of one condition (or all), the trend against a
month earlier, and the public (suppressed) and CSV forms.

It reads the clinic's aggregate documents and one nightly snapshot: a handful of reads,
whatever the number of patients. It never reads logs, summaries or per-patient documents.
"""

import csv
import io
from datetime import date, datetime, timedelta

from pymongo import UpdateOne

from api.errors import field_error
from api.models.clinic import Clinic
from api.models.population import ALL_CONDITIONS, BUCKET_WIDTH, BUCKETS, SEVERITIES
from api.services.care import agreement_templates
from api.services.care.education import normalise_condition
from api.services.clinic.population import aggregates, snapshots
from api.services.tracking.summary import CGM_FLAGS

SUPPRESS_BELOW = 11
SUPPRESSED = "<11"
SUPPRESSED_FIGURE = "suppressed"
TREND_DAYS = 30
SNAPSHOT_KEEP_DAYS = 400


def known_condition(clinic_docs: dict, condition: str) -> bool:
    """A condition the clinic has seen, or one a template is written for."""
    return condition in clinic_docs or bool(agreement_templates.listing(condition=condition))


def _quantile(hist: dict, total: int, p: float) -> float | None:
    """From the histogram, interpolating within the bucket (grouped data)."""
    if total <= 0:
        return None
    target, seen = p * total, 0
    for bucket in range(BUCKETS):
        n = hist.get(str(bucket), 0)
        if n > 0 and seen + n >= target:
            value = (bucket + (target - seen) / n) * BUCKET_WIDTH
            return round(min(value, 100.0), 1)
        seen += n
    return 100.0


def figures(doc: dict | None) -> dict:
    doc = doc or {}
    hist = {k: n for k, n in (doc.get("hist") or {}).items() if n > 0}
    with_data = sum(hist.values())
    names = doc.get("gap_names") or {}
    gaps = []
    for key, count in sorted((doc.get("gaps") or {}).items()):
        eligible, overdue = count.get("eligible", 0), count.get("overdue", 0)
        if eligible <= 0:
            continue
        gaps.append(
            {
                "key": key,
                "name": names.get(key, key),
                "eligible": eligible,
                "overdue": overdue,
                "share_overdue": round(overdue / eligible, 3),
            }
        )
    alerts = doc.get("alerts") or {}
    return {
        "patients": doc.get("patients", 0),
        "care_gaps": sorted(gaps, key=lambda g: g["name"].lower()),
        "adherence_30d": {
            "patients": with_data,
            "without_data": doc.get("no_adherence", 0),
            "q1": _quantile(hist, with_data, 0.25),
            "median": _quantile(hist, with_data, 0.5),
            "q3": _quantile(hist, with_data, 0.75),
        },
        "open_alerts": {s: max(alerts.get(s, 0), 0) for s in SEVERITIES},
        "cgm_flags": {f: max((doc.get("cgm") or {}).get(f, 0), 0) for f in CGM_FLAGS},
    }


def _by_condition(docs: dict) -> list[dict]:
    return [
        {"condition": condition, "patients": doc.get("patients", 0)}
        for condition, doc in sorted(docs.items())
        if condition != ALL_CONDITIONS and doc.get("patients", 0) > 0
    ]


def _earlier(clinic_id, condition: str, now: datetime) -> tuple[str, dict] | None:
    """The newest snapshot at least a month old: (day, documents by condition)."""
    target = (now - timedelta(days=TREND_DAYS)).date().isoformat()
    found = snapshots().find_one(
        {"clinic": clinic_id, "condition": condition, "day": {"$lte": target}},
        {"day": 1},
        sort=[("day", -1)],
    )
    if found is None:
        return None
    docs = snapshots().find({"clinic": clinic_id, "day": found["day"]})
    return found["day"], {doc["condition"]: doc for doc in docs}


def view(clinic: Clinic, *, condition: str | None, now: datetime) -> dict:
    """The population figures now and a month earlier, for all patients or one condition."""
    docs = {doc["condition"]: doc for doc in aggregates().find({"clinic": clinic.pk})}
    if condition is not None:
        condition = normalise_condition(condition)
        if not known_condition(docs, condition):
            raise field_error("condition", "No patient or template has this condition.")
    selected = condition or ALL_CONDITIONS
    current = figures(docs.get(selected))
    if condition is None:
        current["by_condition"] = _by_condition(docs)
    earlier = None
    found = _earlier(clinic.pk, selected, now)
    if found is not None:
        day, old = found
        earlier = {"as_of": date.fromisoformat(day), **figures(old.get(selected))}
        if condition is None:
            earlier["by_condition"] = _by_condition(old)
    return {
        "clinic_id": str(clinic.pk),
        "clinic_name": clinic.name,
        "condition": condition,
        "as_of": now,
        "format": "full",
        "current": current,
        "month_earlier": earlier,
    }


# --- publishing outside the clinic ---------------------------------------------------------


def _count(n: int):
    return SUPPRESSED if n < SUPPRESS_BELOW else n


def _suppress_figures(f: dict) -> dict:
    adherence_figures = f["adherence_30d"]
    small = adherence_figures["patients"] < SUPPRESS_BELOW
    published = {
        **f,
        "patients": _count(f["patients"]),
        "care_gaps": [
            {
                **gap,
                "eligible": _count(gap["eligible"]),
                "overdue": _count(gap["overdue"]),
                "share_overdue": SUPPRESSED_FIGURE
                if min(gap["eligible"], gap["overdue"]) < SUPPRESS_BELOW
                else gap["share_overdue"],
            }
            for gap in f["care_gaps"]
        ],
        "adherence_30d": {
            "patients": _count(adherence_figures["patients"]),
            "without_data": _count(adherence_figures["without_data"]),
            **{
                q: SUPPRESSED_FIGURE if small else adherence_figures[q]
                for q in ("q1", "median", "q3")
            },
        },
        "open_alerts": {s: _count(n) for s, n in f["open_alerts"].items()},
        "cgm_flags": {name: _count(n) for name, n in f["cgm_flags"].items()},
    }
    if "by_condition" in f:
        published["by_condition"] = [
            {**row, "patients": _count(row["patients"])} for row in f["by_condition"]
        ]
    return published


def public(result: dict) -> dict:
    """For partners outside the clinic: every count under 11 is "<11", and every figure
    derived from such a count (a share, the quartiles) is "suppressed"."""
    earlier = result["month_earlier"]
    return {
        **result,
        "format": "public",
        "current": _suppress_figures(result["current"]),
        "month_earlier": earlier and {**_suppress_figures(earlier), "as_of": earlier["as_of"]},
    }


CSV_COLUMNS = ("period", "as_of", "section", "item", "measure", "value")


def _csv_rows(period: str, as_of: str, f: dict):
    yield period, as_of, "patients", "all", "count", f["patients"]
    for row in f.get("by_condition", []):
        yield period, as_of, "condition", row["condition"], "patients", row["patients"]
    for gap in f["care_gaps"]:
        for measure in ("eligible", "overdue", "share_overdue"):
            yield period, as_of, "care_gap", gap["key"], measure, gap[measure]
    for measure, value in f["adherence_30d"].items():
        yield period, as_of, "adherence_30d", "all", measure, "" if value is None else value
    for severity, n in f["open_alerts"].items():
        yield period, as_of, "open_alerts", severity, "count", n
    for flag, n in f["cgm_flags"].items():
        yield period, as_of, "cgm_flags", flag, "count", n


def as_csv(result: dict) -> str:
    """The same figures, one per row (long format), current first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    now = result["as_of"].date().isoformat()
    writer.writerows(_csv_rows("current", now, result["current"]))
    earlier = result["month_earlier"]
    if earlier is not None:
        writer.writerows(_csv_rows("month_earlier", earlier["as_of"].isoformat(), earlier))
    return out.getvalue()


def take_snapshots(*, now: datetime) -> dict:
    """Copy every clinic's aggregates as of today (UTC); taking it again replaces it."""
    day = now.date().isoformat()
    requests = []
    for doc in aggregates().find({}):
        copy = {**doc, "_id": f"{doc['_id']}:{day}", "day": day}
        requests.append(UpdateOne({"_id": copy["_id"]}, {"$set": copy}, upsert=True))
    if requests:
        snapshots().bulk_write(requests, ordered=False)
    oldest = (now - timedelta(days=SNAPSHOT_KEEP_DAYS)).date().isoformat()
    dropped = snapshots().delete_many({"day": {"$lt": oldest}}).deleted_count
    return {"snapshots": len(requests), "dropped": dropped}
