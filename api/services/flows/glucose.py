"""What a CGM upload sets in motion, in order, from one place.

entries_uploaded: the readings go into their hour buckets and day histograms (one
transaction) → the sensor glucose alert rules open or resolve alerts (alerts.cgm, through
the engine's one-open-alert-per-rule path and its notifications) → meter readings become
entries of the glucose goal in force (the log's own flow follows from there) → days whose
wear just reached 70 % count as monitored → at most hourly, the CGM triage flags on the
summary (whose readers, panel and population, follow).
treatments_uploaded: treatments are stored; their carbohydrates become entries of the
carbohydrate goal in force.
"""

from datetime import datetime

from api.services.alerts import cgm as cgm_alerts
from api.services.tracking import glucose, glucose_flags, glucose_goals, treatments, uploaders


def entries_uploaded(patient_id, tz: str | None, readings: list, *, now: datetime, uploader=None):
    stored = glucose.store(patient_id, readings, tz=tz)
    if stored.fresh:
        cgm_alerts.evaluate(patient_id, stored.fresh, now=now)
        if glucose_flags.due(uploader, now):
            glucose_flags.refresh(patient_id, tz, now=now)
            uploaders.flags_refreshed(patient_id, now)
    meter = [(f"mbg:{r.date_ms}", r.at, r.value) for r in readings if r.type == "mbg"]
    if meter:
        glucose_goals.log_entries(patient_id, tz, "blood_glucose", meter, now=now)
    if stored.newly_monitored:
        glucose_goals.mark_monitored(patient_id, tz, stored.newly_monitored, now=now)
    return stored


def treatments_uploaded(patient_id, tz: str | None, docs: list[dict], *, now: datetime) -> None:
    treatments.store(docs)
    carbs = [(f"carbs:{d['_id']}", d["created_at"], d["carbs"]) for d in docs if d.get("carbs")]
    if carbs:
        glucose_goals.log_entries(patient_id, tz, "carbohydrates", carbs, now=now)
