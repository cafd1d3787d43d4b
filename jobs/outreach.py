"""Outreach jobs: campaign delivery, the 7-day education nudge, the population snapshot.

Each is idempotent and safe with several workers: campaigns are claimed with expiring leases
and delivered through the inbox's unique key; a nudge's key `education:<patient>:<item>`
makes it one per (patient, item) however many workers send it, however often.
"""

from datetime import datetime

from api.db import IN_BATCH, find_in
from api.models.notification import Notification
from api.models.user import User
from api.services.care import education
from api.services.clinic import campaigns, population_view
from api.services.notify import delivery
from api.services.reminders.planning import quiet_until
from jobs.context import Worker
from jobs.registry import job

NUDGE_AFTER_DAYS = 7


def nudge_key(patient_id, item_id: str) -> str:
    return f"education:{patient_id}:{item_id}"


def _already_nudged(stale: list[tuple]) -> set[tuple]:
    """The (patient, item) pairs whose nudge is in the inbox: a handful of indexed reads."""
    sent = set()
    collection = Notification._get_collection()
    for start in range(0, len(stale), IN_BATCH):
        batch = stale[start : start + IN_BATCH]
        found = collection.find(
            {
                "patient": {"$in": list({p for p, _ in batch})},
                "key": {"$in": [nudge_key(p, item.pk) for p, item in batch]},
            },
            {"patient": 1, "key": 1},
        )
        sent |= {(n["patient"], n["key"]) for n in found}
    return {(p, item.pk) for p, item in stale if (p, nudge_key(p, item.pk)) in sent}


def nudge_education(now: datetime) -> dict:
    """One gentle reminder per assigned item still `new` 7 days after it was assigned.

    Patients inside their quiet hours are left for a later run (the item is still `new`)."""
    stale = education.stale_assignments(now, older_than_days=NUDGE_AFTER_DAYS)
    done = _already_nudged(stale)
    due = [(p, item) for p, item in stale if (p, item.pk) not in done]
    if not due:
        return {}
    people = {
        u["_id"]: u
        for u in find_in(
            User._get_collection(),
            "_id",
            {p for p, _ in due},
            {"name": 1, "timezone": 1, "quiet_hours": 1},
        )
    }
    inbox, waiting = [], 0
    for patient_id, item in due:
        person = people.get(patient_id, {})
        if quiet_until(person.get("timezone"), person.get("quiet_hours"), now):
            waiting += 1
            continue
        inbox.append(
            {
                "patient": patient_id,
                "key": nudge_key(patient_id, item.pk),
                "kind": "education",
                "title": f"A reading from your care plan: {item.title}"[:300],
                "body": f"When you have {item.reading_minutes} minutes, this may help. "
                "Mark it as read once you have looked at it.",
                "created_at": now,
            }
        )
    names = {p: people.get(p, {}).get("name") for p, _ in due}
    new, queued = delivery.deliver(inbox, names=names, now=now)
    counts = {"education_nudged": len(new), "education_waiting": waiting}
    if queued:
        counts["pushes_queued"] = queued
    return counts


@job("deliver_campaigns", "interval", minutes=1)
def deliver(now, worker: Worker) -> dict:
    return campaigns.deliver_due(now=now, worker=worker.name)


@job("education_nudges", "interval", hours=1)
def nudge(now, worker: Worker) -> dict:
    return nudge_education(now)


@job("population_snapshot", "cron", hour=0, minute=30)
def snapshot(now, worker: Worker) -> dict:
    return population_view.take_snapshots(now=now)
