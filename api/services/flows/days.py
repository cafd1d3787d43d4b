"""The nightly close-out of a patient's day, and the rebuild from the logs; what follows.

missed periods recorded on the rollups (`tracking.adherence.close_day`)
  → 7- and 30-day adherence and the time-based flags on the summary
  → the check-up schedule and `overdue_checkup` (a due date may have passed)
  → panel rows and clinic aggregates, once, from the summary as both left it
"""

from datetime import date, datetime

from api.models.user import User
from api.services.care import checkups
from api.services.flows import derived
from api.services.tracking import adherence, rebuild, summary


def close_day(patient: User, local_date: date, *, now: datetime) -> None:
    adherence.close_day(patient, local_date, now)
    summary.refresh(patient.pk, tz=patient.timezone, now=now)
    after = checkups.refresh_summary(patient.pk, now=now, tz=patient.timezone)
    derived.summary_moved(patient.pk, after, now=now)


def rebuild_all(*, now: datetime) -> tuple[int, int]:
    """`flask rebuild-adherence`: every patient with entries or rollups; (patients, entries
    read)."""
    patients = rebuild.patients_to_rebuild()
    return len(patients), sum(rebuild_patient(patient_id, now=now) for patient_id in patients)


def rebuild_patient(patient_id, *, now: datetime) -> int:
    """One patient's rollups and summary from the entries, then what follows; entries read."""
    entries, after = rebuild.rebuild(patient_id, now=now)
    derived.summary_moved(patient_id, after, now=now)
    return entries
