"""A clinic's population: aggregates kept current as patients change, and the view over them.

What moves the aggregates (called by the flows in `api.services.flows`, so no request pays
more than a write or two):
  - a care-team membership starting or ending with one of a clinic's providers
    (`membership_changed`): the patient joins or leaves the clinic when the number of its
    providers they have reaches or leaves zero, so a shared patient counts once;
  - the summary's 30-day adherence, open alerts or check-up schedule being rewritten, and an
    agreement becoming active or ending (the conditions): `follow`;
  - a provider placed in a clinic: the clinic is rebuilt (`rebuild`).
Each is one atomic swap of the patient's `PopulationProfile` returning the state before; the
aggregates of the clinics they belong to move by the difference (`$inc`, one bulk write, none
when nothing the aggregates show changed). `rebuild` recomputes a clinic from the summaries.

The view reads the clinic's aggregate documents and one nightly snapshot: a handful of reads,
whatever the number of patients. It never reads logs, summaries or per-patient documents.
"""

import csv
import io
import re
from collections import defaultdict
from datetime import date, datetime, timedelta

from bson import ObjectId
from pymongo import DeleteMany, InsertOne, ReturnDocument, UpdateOne

from api.db import find_in
from api.errors import field_error
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.models.clinic import Clinic
from api.models.population import (
    ALL_CONDITIONS,
    BUCKET_WIDTH,
    BUCKETS,
    SEVERITIES,
    PopulationAggregate,
    PopulationProfile,
    PopulationSnapshot,
)
from api.models.user import User
from api.services.care import agreement_templates
from api.services.care.education import normalise_condition
from api.services.clinic import clinics
from api.services.common import local_days
from api.services.tracking import summary as patient_summary

SUPPRESS_BELOW = 11
SUPPRESSED = "<11"
SUPPRESSED_FIGURE = "suppressed"
TREND_DAYS = 30
SNAPSHOT_KEEP_DAYS = 400
WRITE_BATCH = 1000
_SLUG = re.compile(r"[^a-z0-9]+")


def profiles_collection():
    return PopulationProfile._get_collection()


def aggregates():
    return PopulationAggregate._get_collection()


def snapshots():
    return PopulationSnapshot._get_collection()


# --- what one patient adds ----------------------------------------------------------------


def gap_key(name: str) -> str:
    """A check-up's key across patients and agreements: its name as a slug ("hba1c")."""
    return _SLUG.sub("-", name.lower()).strip("-")[:80] or "checkup"


def bucket_of(percent: float | None) -> int | None:
    if percent is None:
        return None
    return min(max(int(percent // BUCKET_WIDTH), 0), BUCKETS - 1)


def summary_part(summary: dict, now: datetime) -> dict:
    """The fields a patient's summary gives: 30-day adherence, open alerts, check-up gaps.

    A check-up is a gap ("overdue") once its next due date has passed in the patient's day,
    the rule the check-ups feature applies; the due dates come from the summary's schedule.
    """
    percent = summary.get("adherence_30d")
    today = local_days.today(now, summary.get("tz"))
    gaps, names = {}, {}
    for checkup in summary.get("checkups_due") or []:
        key = gap_key(checkup["name"])
        overdue = date.fromisoformat(checkup["due_on"]) < today
        gaps[key] = gaps.get(key, False) or overdue
        names[key] = checkup["name"]
    alerts = {s: n for s, n in (summary.get("open_alerts") or {}).items() if n and n > 0}
    flags = summary.get("flags")
    flags = flags if isinstance(flags, dict) else {}
    return {
        "adherence_30d": percent,
        "bucket": bucket_of(percent),
        "gaps": gaps,
        "gap_names": names,
        "alerts": alerts,
        "cgm": [
            name
            for name in patient_summary.CGM_FLAGS
            if isinstance(flags, dict) and flags.get(name)
        ],
    }


def conditions_of(patient_id) -> list[str]:
    found = Agreement._get_collection().find(
        {"patient": patient_id, "status": "active"}, {"content.conditions": 1}
    )
    return _conditions(list(found))


def _conditions(agreement_docs) -> list[str]:
    names = {
        normalise_condition(c)
        for doc in agreement_docs
        for c in (doc.get("content") or {}).get("conditions") or []
        if isinstance(c, str) and c.strip()
    }
    return sorted(names)


def mirror_of(user: dict) -> dict:
    """The profile fields outreach delivery needs, copied so it reads one collection."""
    birth = user.get("birth_date")
    return {
        "name": user.get("name"),
        "tz": user.get("timezone") or "UTC",
        "quiet_hours": user.get("quiet_hours"),
        "opt_out": bool(user.get("outreach_opt_out")),
        "birth_date": birth.date().isoformat() if isinstance(birth, datetime) else birth,
    }


_USER_FIELDS = {
    "name": 1,
    "timezone": 1,
    "quiet_hours": 1,
    "outreach_opt_out": 1,
    "birth_date": 1,
}


def fresh_state(patient_id, now: datetime) -> dict:
    """Everything a patient adds, read from the sources (joining a clinic)."""
    summary = patient_summary.summaries().find_one({"_id": patient_id}) or {}
    user = User._get_collection().find_one({"_id": patient_id}, _USER_FIELDS) or {}
    return {
        **summary_part(summary, now),
        "conditions": conditions_of(patient_id),
        **mirror_of(user),
    }


# --- moving the aggregates ----------------------------------------------------------------


def _member_of(state: dict | None) -> list[str]:
    return [cid for cid, n in ((state or {}).get("clinics") or {}).items() if n and n > 0]


def figures_of(state: dict) -> dict[str, int]:
    """One patient's share of an aggregate document, as `$inc` paths."""
    inc = {"patients": 1}
    bucket = state.get("bucket")
    if bucket is None:
        inc["no_adherence"] = 1
    else:
        inc[f"hist.{bucket}"] = 1
    for key, overdue in (state.get("gaps") or {}).items():
        inc[f"gaps.{key}.eligible"] = 1
        if overdue:
            inc[f"gaps.{key}.overdue"] = 1
    for severity, n in (state.get("alerts") or {}).items():
        if n:
            inc[f"alerts.{severity}"] = n
    for flag in state.get("cgm") or []:
        inc[f"cgm.{flag}"] = 1
    return inc


def _moves(before: dict | None, after: dict | None, *, skip: str | None = None) -> dict:
    """(clinic, condition) → {path: delta} taking the aggregates from `before` to `after`."""
    moves: dict = defaultdict(lambda: defaultdict(int))
    for state, sign in ((before, -1), (after, 1)):
        if not state:
            continue
        paths = figures_of(state)
        for clinic in _member_of(state):
            if clinic == skip:
                continue
            for condition in (ALL_CONDITIONS, *(state.get("conditions") or [])):
                for path, n in paths.items():
                    moves[(clinic, condition)][path] += sign * n
    return moves


def _write_moves(moves: dict, names: dict) -> None:
    requests = []
    for (clinic, condition), paths in moves.items():
        inc = {path: n for path, n in paths.items() if n}
        if not inc:
            continue
        update = {
            "$inc": inc,
            "$setOnInsert": {"clinic": ObjectId(clinic), "condition": condition},
        }
        named = {f"gap_names.{k}": v for k, v in names.items() if f"gaps.{k}.eligible" in inc}
        if named:
            update["$set"] = named
        requests.append(UpdateOne({"_id": f"{clinic}:{condition}"}, update, upsert=True))
    if requests:
        aggregates().bulk_write(requests, ordered=False)


def _after(before: dict, update: dict) -> dict:
    """The profile as `update` left it (the updates here: `$set` of whole fields and
    `$inc` of `clinics.<id>`)."""
    after = {**before, **update.get("$set", {})}
    counts = dict(before.get("clinics") or {})
    for path, n in update.get("$inc", {}).items():
        clinic = path.split(".", 1)[1]
        counts[clinic] = counts.get(clinic, 0) + n
    after["clinics"] = counts
    return after


def _swap(patient_id, update: dict, *, now: datetime, upsert: bool = False) -> dict | None:
    """Apply `update` to the patient's profile atomically and move the aggregates by the
    difference. Without `upsert`, a patient never seen in a clinic costs one read."""
    before = profiles_collection().find_one_and_update(
        {"_id": patient_id}, update, upsert=upsert, return_document=ReturnDocument.BEFORE
    )
    if before is None and not upsert:
        return None
    before = before or {"_id": patient_id}
    after = _after(before, update)
    _write_moves(_moves(before, after), after.get("gap_names") or {})
    _record_closures(patient_id, before, after, now)
    return after


def _record_closures(patient_id, before: dict, after: dict, now: datetime) -> None:
    """A gap closed (overdue, then not) is stamped: campaigns count the gaps they closed."""
    was, now_gaps = before.get("gaps") or {}, after.get("gaps") or {}
    closed = [k for k, overdue in was.items() if overdue and now_gaps.get(k) is False]
    if closed:
        profiles_collection().update_one(
            {"_id": patient_id}, {"$set": {f"closed.{k}": now for k in closed}}
        )


def join(patient_id, clinic_id, *, now: datetime) -> None:
    """One more of the clinic's providers has the patient; the first brings them in."""
    cid = str(clinic_id)
    update = {
        "$set": fresh_state(patient_id, now),
        "$inc": {f"clinics.{cid}": 1},
        "$addToSet": {"in_clinics": ObjectId(cid)},
    }
    _swap(patient_id, update, now=now, upsert=True)


def leave(patient_id, clinic_id, *, now: datetime) -> None:
    cid = str(clinic_id)
    after = _swap(patient_id, {"$inc": {f"clinics.{cid}": -1}}, now=now)
    if after is not None and after["clinics"].get(cid, 0) <= 0:
        # Only if no provider brought them back meanwhile.
        profiles_collection().update_one(
            {"_id": patient_id, f"clinics.{cid}": {"$lte": 0}},
            {"$pull": {"in_clinics": ObjectId(cid)}, "$unset": {f"clinics.{cid}": ""}},
        )


def remove_patient(patient_id) -> None:
    """Take an erased patient out of every clinic's figures, and drop their profile."""
    before = profiles_collection().find_one_and_delete({"_id": patient_id})
    if before is not None:
        _write_moves(_moves(before, None), {})


# --- following the patient ----------------------------------------------------------------


def membership_changed(member, *, now: datetime) -> None:
    """A membership with one of a clinic's providers started or ended: the patient joins or
    leaves each of that provider's clinics (counted once however many providers they have)."""
    if member.status == "active":
        move = join
    elif member.status == "ended" and member.activated_at is not None:
        move = leave
    else:
        return
    for clinic in Clinic._get_collection().find({"providers": member.provider}, {"_id": 1}):
        move(member.patient, clinic["_id"], now=now)


def follow(patient_id, *, now: datetime, summary: dict | None = None, conditions=False) -> None:
    """The patient's summary (30-day adherence, open alerts, check-up gaps) and, with
    `conditions`, their active agreements' conditions moved: one swap for both."""
    fields = {}
    if summary is not None:
        fields.update(summary_part(summary, now))
    if conditions:
        fields["conditions"] = conditions_of(patient_id)
    if fields:
        _swap(patient_id, {"$set": fields}, now=now)


def profile_changed(user) -> None:
    """The profile fields outreach reads (name, zone, quiet hours, opt-out, birth date)."""
    if user.role == "patient":
        doc = user.to_mongo().to_dict()
        profiles_collection().update_one({"_id": user.pk}, {"$set": mirror_of(doc)})


# --- rebuilding ---------------------------------------------------------------------------


def _nest(paths: dict[str, int]) -> dict:
    doc: dict = {}
    for path, n in paths.items():
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = node.get(leaf, 0) + n
    return doc


def _memberships(clinic: Clinic) -> dict:
    """Patient → how many of the clinic's providers have them on an active care team."""
    counts: dict = defaultdict(set)
    if clinic.providers:
        cursor = CareTeamMember._get_collection().find(
            {"provider": {"$in": list(clinic.providers)}, "status": "active"},
            {"patient": 1, "provider": 1},
        )
        for member in cursor:
            counts[member["patient"]].add(member["provider"])
    return {patient: len(providers) for patient, providers in counts.items()}


def rebuild(clinic_id, *, now: datetime) -> dict:
    """Recompute a clinic's members and aggregates from the summaries, agreements and
    profiles (operators; the tests prove the incremental path lands on the same figures).

    A patient whose recomputed share differs from the stored one also moves the other
    clinics they belong to, so those stay equal to their own rebuild."""
    clinic = clinics.get_clinic(clinic_id)
    cid = str(clinic.pk)
    counts = _memberships(clinic)
    ids = list(counts)
    summaries = {
        s["_id"]: s
        for s in find_in(patient_summary.summaries(), "_id", ids, {"goals": 0, "seq": 0})
    }
    users = {u["_id"]: u for u in find_in(User._get_collection(), "_id", ids, _USER_FIELDS)}
    by_patient = defaultdict(list)
    for doc in find_in(
        Agreement._get_collection(),
        "patient",
        ids,
        {"patient": 1, "status": 1, "content.conditions": 1},
    ):
        if doc["status"] == "active":
            by_patient[doc["patient"]].append(doc)
    stored = {p["_id"]: p for p in find_in(profiles_collection(), "_id", ids)}
    writes, other_moves, names, totals = [], defaultdict(lambda: defaultdict(int)), {}, {}
    for patient_id in ids:
        fresh = {
            **summary_part(summaries.get(patient_id, {}), now),
            "conditions": _conditions(by_patient[patient_id]),
            **mirror_of(users.get(patient_id, {})),
        }
        before = stored.get(patient_id)
        after = _after(before or {"_id": patient_id}, {"$set": fresh})
        after["clinics"][cid] = counts[patient_id]
        for key, paths in _moves(before, after, skip=cid).items():
            for path, n in paths.items():
                other_moves[key][path] += n
        names.update(after.get("gap_names") or {})
        for condition in (ALL_CONDITIONS, *after["conditions"]):
            total = totals.setdefault(condition, defaultdict(int))
            for path, n in figures_of(after).items():
                total[path] += n
        writes.append(
            UpdateOne(
                {"_id": patient_id},
                {
                    "$set": {**fresh, f"clinics.{cid}": counts[patient_id]},
                    "$addToSet": {"in_clinics": clinic.pk},
                },
                upsert=True,
            )
        )
    left = profiles_collection().find({"in_clinics": clinic.pk}, {"_id": 1})
    writes += [
        UpdateOne(
            {"_id": p["_id"]},
            {"$pull": {"in_clinics": clinic.pk}, "$unset": {f"clinics.{cid}": ""}},
        )
        for p in left
        if p["_id"] not in counts
    ]
    # In slices: one command per thousand patients stays well within any socket timeout.
    for start in range(0, len(writes), WRITE_BATCH):
        profiles_collection().bulk_write(writes[start : start + WRITE_BATCH], ordered=False)
    _write_moves(other_moves, names)
    rebuilt = [DeleteMany({"clinic": clinic.pk})]
    for condition, paths in totals.items():
        doc = _nest(paths)
        gap_names = {k: names[k] for k in doc.get("gaps", {}) if k in names}
        rebuilt.append(
            InsertOne(
                {
                    "_id": f"{cid}:{condition}",
                    "clinic": clinic.pk,
                    "condition": condition,
                    **doc,
                    "gap_names": gap_names,
                }
            )
        )
    aggregates().bulk_write(rebuilt, ordered=True)
    return {"patients": len(ids), "aggregates": len(totals)}


# --- snapshots ----------------------------------------------------------------------------


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


# --- the view -----------------------------------------------------------------------------


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
        "cgm_flags": {
            f: max((doc.get("cgm") or {}).get(f, 0), 0) for f in patient_summary.CGM_FLAGS
        },
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


# --- cohorts (campaigns) ------------------------------------------------------------------


def members_filter(clinic_id) -> dict:
    """The clinic's patients among the profiles (by the `in_clinics` index)."""
    return {"in_clinics": clinic_id, f"clinics.{clinic_id}": {"$gt": 0}}
