"""Nightly close-out: every patient whose local day has just ended gets that day closed.

Runs every 15 minutes, so each time zone is served soon after its midnight. Idempotent per
(patient, local date): a `DayClose` is written after `flows.days.close_day` (itself
idempotent) succeeds, so a crash in between only repeats harmless work.
"""

from contextlib import suppress
from datetime import datetime, timedelta

from mongoengine.errors import NotUniqueError

from api.models.reminder import DayClose
from api.models.user import User
from api.services.common import local_days
from api.services.flows import days
from jobs.context import Worker
from jobs.registry import job

BATCH = 500


def close_days(now: datetime) -> dict:
    counts = {"closed": 0, "already_closed": 0}
    users = User._get_collection()
    for tz in users.distinct("timezone", {"role": "patient"}):
        yesterday = local_days.today(now, tz) - timedelta(days=1)
        patient_ids = [
            u["_id"] for u in users.find({"role": "patient", "timezone": tz}, {"_id": 1})
        ]
        for start in range(0, len(patient_ids), BATCH):
            batch = patient_ids[start : start + BATCH]
            done = {
                d["patient"]
                for d in DayClose._get_collection().find(
                    {"patient": {"$in": batch}, "local_date": _as_datetime(yesterday)}
                )
            }
            counts["already_closed"] += len(done)
            for patient in User.objects(pk__in=[p for p in batch if p not in done]):
                close_patient_day(patient, yesterday, now)
                counts["closed"] += 1
    return counts


def close_patient_day(patient: User, local_date, now: datetime) -> None:
    days.close_day(patient, local_date, now=now)
    # Another worker may close the same day at the same moment; one marker is enough
    # (mongoengine reports the duplicate key as its own NotUniqueError).
    with suppress(NotUniqueError):
        DayClose(patient=patient.pk, local_date=local_date, closed_at=now).save(force_insert=True)


def _as_datetime(day):
    return datetime(day.year, day.month, day.day)


@job("nightly_close", "interval", minutes=15)
def run(now, worker: Worker) -> dict:
    return close_days(now)
