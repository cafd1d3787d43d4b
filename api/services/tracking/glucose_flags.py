"""CGM triage flags on the patient's summary, as TIDE sorts patients: over the last 14 days,
time very low > 1 %, time low > 4 %, time in range < 70 %, time in range down more than 15
points from the 14 days before, and wear < 70 %.

Only CGM wearers are flagged: patients with sensor readings in the last 28 days (someone who
never wore a sensor has no low wear). The flags are recomputed from the day histograms (28
small documents) after an upload, at most once an hour per uploader, and nightly for every
patient with an active uploader, so a sensor that went quiet turns `low_wear` on.
"""

from datetime import datetime, timedelta

from api.services.common import local_days
from api.services.tracking import glucose_metrics, summary, uploaders

CGM_FLAGS = summary.CGM_FLAGS
WINDOW_DAYS = 14
REFRESH_EVERY = timedelta(hours=1)


def compute(patient_id, tz: str | None, now: datetime) -> dict[str, bool]:
    last = local_days.today(now, tz)
    first = last - timedelta(days=WINDOW_DAYS - 1)
    before_first, before_last = first - timedelta(days=WINDOW_DAYS), first - timedelta(days=1)
    docs = glucose_metrics.read_days(patient_id, before_first, last)
    recent = [d for d in docs if d["day"] >= first.isoformat()]
    earlier = [d for d in docs if d["day"] < first.isoformat()]
    now_figures = glucose_metrics.summarize(
        recent, glucose_metrics.window_minutes(first, last, tz, now)
    )
    then_figures = glucose_metrics.summarize(
        earlier, glucose_metrics.window_minutes(before_first, before_last, tz, now)
    )
    if not now_figures["readings"] and not then_figures["readings"]:
        return dict.fromkeys(CGM_FLAGS, False)
    ranges = now_figures["time_in_ranges"]
    in_range, before = ranges["in_range"], then_figures["time_in_ranges"]["in_range"]
    return {
        "time_very_low": (ranges["very_low"] or 0) > 1,
        "time_low": (ranges["low"] or 0) > 4,
        "tir_below_70": in_range is not None and in_range < 70,
        "tir_drop": in_range is not None and before is not None and before - in_range > 15,
        "low_wear": now_figures["wear_percent"] < 70,
    }


def refresh(patient_id, tz: str | None, *, now: datetime) -> dict | None:
    """Write the flags to the summary; the summary after if any moved (for the flow to move
    its readers, panel and population), else None."""
    return summary.set_cgm_flags(patient_id, compute(patient_id, tz, now))


def due(uploader: dict | None, now: datetime) -> bool:
    """Whether an upload through this uploader should recompute the flags."""
    flagged = (uploader or {}).get("flags_at")
    return flagged is None or now - flagged >= REFRESH_EVERY


def stale(*, now: datetime, limit: int = 5000) -> dict:
    """Patient → zone, for every patient with an active uploader whose flags are more than
    an hour old (a sensor gone quiet sends nothing that would recompute them)."""
    found = uploaders.uploaders().find(
        {
            "revoked_at": None,
            "$or": [{"flags_at": None}, {"flags_at": {"$lt": now - REFRESH_EVERY}}],
        },
        {"patient": 1, "tz": 1},
    )
    patients = {}
    for doc in found.limit(limit):
        patients.setdefault(doc["patient"], doc.get("tz"))
    return patients
