"""Dispatch: claim a due minute of reminders, decide each, write the inbox, queue the pushes.

Cost per tick is one read of what is due plus one inbox insert per delivered reminder (and,
for patients with devices, one outbox entry per device: the worker's send_outbox pushes):
  - a worker claims a whole `ReminderSlice` (one UTC minute) with an expiring lease, not
    each occurrence, so there is no per-reminder claim write;
  - the inbox notification's unique (patient, key) index is the record of delivery, so a
    retried slice (another worker, a crashed one's expired lease) inserts nothing twice and
    delivered occurrences are never rewritten;
  - only the exceptions are written back, grouped: `skipped` (goal met today, agreement no
    longer active), `expired` (a goal reminder more than 2 hours late) and deferrals (quiet
    hours).
Everything reads raw documents (no ODM objects) because a busy minute holds thousands.
"""

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument, UpdateMany

from api import metrics
from api.db import IN_BATCH
from api.models.agreement import Agreement
from api.models.reminder import Occurrence, ReminderSlice
from api.services.common import local_days
from api.services.notify import delivery
from api.services.reminders.planning import (
    MINUTE,
    open_slices,
    quiet_until,
    slice_of,
)
from api.services.tracking import adherence, rollups

LEASE = timedelta(minutes=5)
GOAL_STALE_AFTER = timedelta(hours=2)
# Longer than any reminder waits between planning and delivery (horizon, quiet hours).
ENDED_LOOKBACK = timedelta(days=7)
# Reminders decided and inserted per round trip: large enough to amortise the calls, small
# enough that no single insert nears the socket timeout.
CHUNK = 1000
MAX_SLICES_PER_TICK = 500


def _count(counts: dict, name: str, n: int) -> None:
    counts[name] = counts.get(name, 0) + n


def claim_slice(now: datetime, worker: str) -> dict | None:
    """Lease the oldest due minute nobody holds; None when there is nothing to do."""
    return ReminderSlice._get_collection().find_one_and_update(
        {
            "open": True,
            "lease_until": {"$lte": now},
        },
        {"$set": {"lease_owner": worker, "lease_until": now + LEASE}},
        sort=[("open", 1), ("lease_until", 1)],
        return_document=ReturnDocument.AFTER,
    )


def release_slice(claimed: dict, now: datetime, worker: str) -> None:
    """Close the slice unless work arrived meanwhile; then only give the lease back."""
    slices = ReminderSlice._get_collection()
    closed = slices.update_one(
        {"_id": claimed["_id"], "lease_owner": worker, "generation": claimed["generation"]},
        {"$unset": {"open": "", "lease_owner": ""}, "$set": {"closed_at": now}},
    )
    if not closed.matched_count:
        slices.update_one(
            {"_id": claimed["_id"], "lease_owner": worker},
            {"$unset": {"lease_owner": ""}, "$set": {"lease_until": now}},
        )


def tick(now: datetime, *, worker: str) -> dict:
    """The dispatch job: deliver every due minute this worker can claim."""
    counts: dict[str, int] = {}
    for _ in range(MAX_SLICES_PER_TICK):
        claimed = claim_slice(now, worker)
        if claimed is None:
            break
        deliver_slice(claimed["_id"], now, counts)
        release_slice(claimed, now, worker)
        _count(counts, "slices", 1)
    return counts


def deliver_slice(start: datetime, now: datetime, counts) -> None:
    due = Occurrence._get_collection().find(
        {"due_at": {"$gte": start, "$lt": start + MINUTE}, "status": "pending"},
        {"planned_at": 0},
    )
    while chunk := list(itertools.islice(due, CHUNK)):
        _deliver_chunk(chunk, now, counts)


def ended_agreements(now: datetime) -> set:
    """Agreements that ended lately: re-planning drops their reminders, and this catches any
    that slipped through (ended while their minute was being delivered)."""
    since = now - ENDED_LOOKBACK
    collection = Agreement._get_collection()
    return {
        doc["_id"]
        for status in ("completed", "revoked")
        for doc in collection.find({"status": status, "ended_at": {"$gte": since}}, {"_id": 1})
    }


def _decide(occurrence: dict, ended: set, now: datetime) -> tuple[str, object]:
    """("deliver", None) or ("skipped"|"expired", reason) or ("defer", until).

    Whether a goal is already met is settled afterwards for the whole chunk at once.
    """
    if occurrence["agreement"] in ended:
        return "skipped", "agreement no longer active"
    if occurrence["kind"] == "goal_reminder" and now - occurrence["due_at"] > GOAL_STALE_AFTER:
        return "expired", "more than 2 hours late"
    until = quiet_until(occurrence["timezone"], occurrence.get("quiet_hours"), now)
    if until is not None:
        return "defer", until
    return "deliver", None


def _period_ref(occurrence: dict) -> tuple[str, str]:
    period = occurrence.get("goal_period") or local_days.DAY
    day = occurrence["local_date"].date()
    return rollups.period_ref(occurrence["patient"], occurrence["goal_id"], period, day)


def _goals_met(occurrences: list[dict]) -> set[tuple[str, str]]:
    """The periods of these goal reminders whose goal is met: `adherence.goal_met` for
    a whole chunk, by `_id` alone (a second predicate costs the embedded server its plan)."""
    goals = [o for o in occurrences if o["kind"] == "goal_reminder"]
    return adherence.met_among([_period_ref(o) for o in goals])


def _deliver_chunk(chunk: list[dict], now: datetime, counts) -> None:
    ended = ended_agreements(now)
    outcomes = defaultdict(list)  # (status, reason) → occurrence ids
    deferrals = defaultdict(list)  # new due_at → occurrence ids
    deliveries = []
    for occurrence in chunk:
        verdict, detail = _decide(occurrence, ended, now)
        if verdict == "deliver":
            deliveries.append(occurrence)
        elif verdict == "defer":
            deferrals[detail].append(occurrence["_id"])
        else:
            outcomes[(verdict, detail)].append(occurrence["_id"])
    met = _goals_met(deliveries)
    inbox = []
    for occurrence in deliveries:
        if occurrence["kind"] == "goal_reminder" and _period_ref(occurrence) in met:
            outcomes[("skipped", "goal already met today")].append(occurrence["_id"])
        else:
            inbox.append(notification_for(occurrence, now))
    _write_outcomes(outcomes, deferrals, counts)
    names = {o["patient"]: o.get("patient_name") for o in deliveries if o.get("has_devices")}
    new, queued = delivery.deliver(inbox, names=names, now=now, with_devices=set(names))
    if new:
        _count(counts, "delivered", len(new))
        metrics.REMINDERS.labels("delivered").inc(len(new))
    if queued:
        _count(counts, "pushes_queued", queued)


def _batches(ids: list) -> list[list]:
    return [ids[start : start + IN_BATCH] for start in range(0, len(ids), IN_BATCH)]


def _write_outcomes(outcomes, deferrals, counts) -> None:
    requests = []
    for (status, reason), ids in outcomes.items():
        requests += [
            UpdateMany({"_id": {"$in": batch}}, {"$set": {"status": status, "reason": reason}})
            for batch in _batches(ids)
        ]
        _count(counts, status, len(ids))
        metrics.REMINDERS.labels(status).inc(len(ids))
    deferred_since = {"$ifNull": ["$deferred_from", "$due_at"]}
    for until, ids in deferrals.items():
        requests += [
            UpdateMany(
                {"_id": {"$in": batch}},
                [
                    {
                        "$set": {
                            "deferred_from": deferred_since,
                            "due_at": until,
                            "reason": "quiet hours",
                        }
                    }
                ],
            )
            for batch in _batches(ids)
        ]
        _count(counts, "deferred", len(ids))
    if requests:
        Occurrence._get_collection().bulk_write(requests, ordered=False)
    open_slices(slice_of(until) for until in deferrals)


def notification_for(occurrence: dict, now: datetime) -> dict:
    return {
        "_id": ObjectId(),
        "patient": occurrence["patient"],
        "key": occurrence["key"],
        "kind": occurrence["kind"],
        "title": occurrence["title"],
        "body": occurrence["body"],
        "created_at": now,
        "occurrence": occurrence["_id"],
    }
