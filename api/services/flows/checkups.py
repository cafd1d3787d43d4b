"""A check-up completion recorded, and what follows.

the completion (`care.checkups`; the duplicate-test guard)
  → reminders re-planned for the agreements with that test (its next due date moved)
  → the check-up schedule and `overdue_checkup` on the summary
  → panel rows and clinic aggregates (care gaps)
"""

from datetime import datetime

from api.models.checkup import CheckupCompletion
from api.services.care import checkups
from api.services.flows import derived
from api.services.reminders import planning


def record_completion(*, patient_id, now: datetime, tz=None, **kwargs) -> CheckupCompletion:
    completion = checkups.record_completion(patient_id=patient_id, now=now, tz=tz, **kwargs)
    for agreement in checkups.agreements_testing(patient_id, completion.match_key):
        planning.replan_agreement(agreement, now)
    summary = checkups.refresh_summary(patient_id, now=now, tz=tz)
    derived.summary_moved(patient_id, summary, now=now)
    return completion
