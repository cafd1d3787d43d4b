"""Dispatch: claim a due minute of reminders, decide each, write the inbox, push to devices.

Cost per tick is one read of what is due plus one inbox insert per delivered reminder:
  - a worker claims a whole `ReminderSlice` (one UTC minute) with an expiring lease, not
    each occurrence, so there is no per-reminder claim write;
  - the inbox notification's unique (patient, key) index is the record of delivery, so a
    retried slice (another worker, a crashed one's expired lease) inserts nothing twice and
    delivered occurrences are never rewritten;
  - only the exceptions are written back, grouped: `skipped` (goal met today, agreement no
    longer active), `expired` (a goal reminder more than 2 hours late), deferrals (quiet
    hours) and `failed` pushes.
Everything reads raw documents (no ODM objects) because a busy minute holds thousands.
"""

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument, UpdateMany
from pymongo.errors import BulkWriteError

from api import metrics
from api.db import IN_BATCH, find_in
from api.models.agreement import Agreement
from api.models.notification import Device, Notification
from api.models.reminder import Occurrence, ReminderSlice
from api.services.common import local_days
from api.services.notify.push import Channel, PushMessage
from api.services.reminders.planning import (
    DUPLICATE_KEY,
    MINUTE,
    open_slices,
    quiet_until,
    slice_of,
)
from api.services.tracking import adherence

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


def tick(now: datetime, *, worker: str, channel: Channel) -> dict:
    """The dispatch job: deliver every due minute this worker can claim."""
    counts: dict[str, int] = {}
    for _ in range(MAX_SLICES_PER_TICK):
        claimed = claim_slice(now, worker)
        if claimed is None:
            break
        deliver_slice(claimed["_id"], now, channel, counts)
        release_slice(claimed, now, worker)
        _count(counts, "slices", 1)
    return counts


def deliver_slice(start: datetime, now: datetime, channel: Channel, counts) -> None:
    due = Occurrence._get_collection().find(
        {"due_at": {"$gte": start, "$lt": start + MINUTE}, "status": "pending"},
        {"planned_at": 0},
    )
    while chunk := list(itertools.islice(due, CHUNK)):
        _deliver_chunk(chunk, now, channel, counts)


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
    return adherence.period_ref(occurrence["patient"], occurrence["goal_id"], period, day)


def _goals_met(occurrences: list[dict]) -> set[tuple[str, str]]:
    """The periods of these goal reminders whose goal is met: `adherence.goal_met` for
    a whole chunk, by `_id` alone (a second predicate costs the embedded server its plan)."""
    goals = [o for o in occurrences if o["kind"] == "goal_reminder"]
    return adherence.met_among([_period_ref(o) for o in goals])


def _deliver_chunk(chunk: list[dict], now: datetime, channel: Channel, counts) -> None:
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
    new, retried = _insert_inbox(inbox)
    if new:
        _count(counts, "delivered", len(new))
        metrics.REMINDERS.labels("delivered").inc(len(new))
    names = {o["patient"]: o.get("patient_name") for o in deliveries if o.get("has_devices")}
    _push([n for n in new + retried if n["patient"] in names], names, channel, counts)


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


def _insert_inbox(inbox: list[dict]) -> tuple[list[dict], list[dict]]:
    """Insert; return (new notifications, already-delivered ones whose push is unfinished)."""
    if not inbox:
        return [], []
    collection = Notification._get_collection()
    try:
        collection.insert_many(inbox, ordered=False)
        return inbox, []
    except BulkWriteError as error:
        errors = error.details["writeErrors"]
        if any(e["code"] != DUPLICATE_KEY for e in errors):
            raise
    duplicate = {e["index"] for e in errors}
    new = [doc for i, doc in enumerate(inbox) if i not in duplicate]
    # Retried after a crash: these are in the inbox already; push those not yet pushed.
    retried = [
        doc
        for i in sorted(duplicate)
        if (doc := collection.find_one({"patient": inbox[i]["patient"], "key": inbox[i]["key"]}))
        and doc.get("push") == "pending"
    ]
    return new, retried


def _addressee(notification: dict):
    """Whose devices hear it: its recipient (a provider, for an alert), else the patient."""
    return notification.get("recipient") or notification["patient"]


def _push(notifications: list[dict], names: dict, channel: Channel, counts) -> None:
    """Send each notification to every device of its addressee; record what failed.

    `names`: addressee id → the patient's name (a caregiver's device is told whose it is)."""
    if not notifications:
        return
    devices = defaultdict(list)
    addressees = {_addressee(n) for n in notifications}
    for device in find_in(Device._get_collection(), "patient", addressees):
        devices[device["patient"]].append(device)
    targeted = [n for n in notifications if devices.get(_addressee(n))]
    if not targeted:
        return
    collection = Notification._get_collection()
    for batch in _batches([n["_id"] for n in targeted]):
        collection.update_many({"_id": {"$in": batch}}, {"$set": {"push": "pending"}})
    for notification in targeted:
        errors = []
        for device in devices[_addressee(notification)]:
            result = channel.send(message_for(notification, device, names[device["patient"]]))
            if result.unregistered:
                Device.objects(token=device["token"]).delete()
                _count(counts, "devices_removed", 1)
            elif not result.ok:
                errors.append(result.error)
        _count(counts, "pushed" if not errors else "push_failed", 1)
        _record_push(notification, errors)


def message_for(notification: dict, device: dict, patient_name: str | None) -> PushMessage:
    """A caregiver's device is told whose reminder it is."""
    title = notification["title"]
    if device["owner"] != device["patient"]:
        title = f"For {patient_name or 'your dependant'}: {title}"
    return PushMessage(
        token=device["token"],
        platform=device["platform"],
        title=title,
        body=notification["body"],
        key=notification["key"],
        data={"kind": notification["kind"], "notification_id": str(notification["_id"])},
    )


def _record_push(notification: dict, errors: list[str]) -> None:
    changes = {"push": "failed" if errors else "sent"}
    if errors:
        changes["push_error"] = "; ".join(errors)[:300]
    if errors and notification.get("occurrence"):
        metrics.REMINDERS.labels("failed").inc()
        Occurrence._get_collection().update_one(
            {"_id": notification["occurrence"]},
            {"$set": {"status": "failed", "reason": f"push failed: {changes['push_error']}"}},
        )
    Notification._get_collection().update_one({"_id": notification["_id"]}, {"$set": changes})
