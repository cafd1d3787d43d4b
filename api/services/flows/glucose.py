"""What a CGM upload sets in motion, in order, from one place.

entries_uploaded: the readings go into their hour buckets and day histograms (one
transaction) → the sensor glucose alert rules open or resolve alerts (alerts.cgm, through
the engine's one-open-alert-per-rule path and its notifications) → meter readings become
entries of the glucose goal in force (through the entry flow: alerts, panel, population) →
days whose wear just reached 70 % count as monitored → at most hourly, the CGM triage flags
on the summary; whenever the summary moved, its readers (panel, population) follow.
treatments_uploaded: treatments are stored; their carbohydrates become entries of the
carbohydrate goal in force.
"""

from datetime import datetime

from api.services.alerts import cgm as cgm_alerts
from api.services.flows import derived, entries
from api.services.tracking import glucose, glucose_flags, glucose_goals, treatments, uploaders


def entries_uploaded(patient_id, tz: str | None, readings: list, *, now: datetime, uploader=None):
    stored = glucose.store(patient_id, readings, tz=tz)
    if stored.fresh:
        digest = uploader.get("alert_rules") if uploader else None
        moved = cgm_alerts.evaluate(patient_id, stored.fresh, now=now, digest=digest)
        _moved(patient_id, moved, now)
        if glucose_flags.due(uploader, now):
            _moved(patient_id, glucose_flags.refresh(patient_id, tz, now=now), now)
            uploaders.flags_refreshed(patient_id, now)
    meter = [(f"mbg:{r.date_ms}", r.at, r.value) for r in readings if r.type == "mbg"]
    if meter:
        _log(patient_id, tz, "blood_glucose", meter, now=now)
    if stored.newly_monitored:
        after = glucose_goals.mark_monitored(patient_id, tz, stored.newly_monitored, now=now)
        _moved(patient_id, after, now)
    return stored


def refresh_stale_flags(*, now: datetime) -> dict:
    """The hourly job: CGM flags of patients whose sensor went quiet, and their readers."""
    patients = glucose_flags.stale(now=now)
    moved = 0
    for patient_id, tz in patients.items():
        after = glucose_flags.refresh(patient_id, tz, now=now)
        uploaders.flags_refreshed(patient_id, now)
        _moved(patient_id, after, now)
        moved += after is not None
    return {"patients_checked": len(patients), "flags_moved": moved}


def _moved(patient_id, summary: dict | None, now: datetime) -> None:
    if summary is not None:
        derived.summary_moved(patient_id, summary, now=now)


def _log(patient_id, tz, measure: str, values: list, *, now: datetime) -> None:
    found = glucose_goals.entries_for(patient_id, tz, measure, values)
    if found is not None:
        author, items = found
        entries.log_batch(author, items, lambda item: item, now=now)


def treatments_uploaded(patient_id, tz: str | None, docs: list[dict], *, now: datetime) -> None:
    treatments.store(docs)
    carbs = [(f"carbs:{d['_id']}", d["created_at"], d["carbs"]) for d in docs if d.get("carbs")]
    if carbs:
        _log(patient_id, tz, "carbohydrates", carbs, now=now)
