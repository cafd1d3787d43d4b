"""The clinic's past month: the nightly population snapshot the demo's history would have left.

The population view's trend compares today with the newest snapshot at least a month old, and
the snapshot job only ever copies today's figures. So, a month back, the patients' days are
closed as the nightly job closed them then (adherence over the 30 days before, the check-ups
judged on that day) and the snapshot job runs with that date: the same flows, so the snapshot
holds what the job would have stored. The seed then closes yesterday, which brings every
figure back to today. Open alerts are as the history's readings left them.
"""

from datetime import date, time, timedelta

from api.demo.team import local_instant
from api.models.user import User
from api.services.clinic import population_view
from api.services.clinic.population import snapshots
from api.services.flows import days

MONTH_BACK = 30  # days: the trend compares today with a month ago
SNAPSHOT_AT = time(0, 30)  # the population_snapshot job's hour


def take_past_snapshot(clinic, patients: list[User], *, today: date) -> bool:
    """Once per clinic: the snapshot of a month ago; whether it was taken (then every
    patient's figures are a month old until yesterday is closed again)."""
    if snapshots().find_one({"clinic": clinic.pk}, {"_id": 1}):
        return False
    day = today - timedelta(days=MONTH_BACK)
    then = local_instant(day, SNAPSHOT_AT)
    for patient in patients:
        days.close_day(patient, day - timedelta(days=1), now=then)
    population_view.take_snapshots(now=then)
    return True
