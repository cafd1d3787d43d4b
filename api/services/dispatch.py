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

from api.models.agreement import Agreement
from api.models.notification import Device, Notification
from api.models.reminder import Occurrence, ReminderSlice
from api.models.user import User
from api.services import adherence, local_days
from api.services.push import Channel, PushMessage
from api.services.reminders import (
    DUPLICATE_KEY,
    MINUTE,
    open_slices,
    quiet_until,
    slice_of,
)

LEASE = timedelta(minutes=5)
GOAL_STALE_AFTER = timedelta(hours=2)
CHUNK = 5000
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


def _by_id(document_class, ids, projection) -> dict:
    cursor = document_class._get_collection().find({"_id": {"$in": list(ids)}}, projection)
    return {doc["_id"]: doc for doc in cursor}


def _decide(occurrence, patient, agreement, now) -> tuple[str, object]:
    """("deliver", item) or ("skipped"|"expired", reason) or ("defer", until).

    Whether a goal is already met is settled afterwards for the whole chunk at once.
    """
    if patient is None or agreement is None or agreement["status"] != "active":
        return "skipped", "agreement no longer active"
    content = agreement["content"]
    if occurrence["kind"] == "goal_reminder":
        item = next((g for g in content.get("goals", []) if g["id"] == occurrence["goal_id"]), None)
        if item is None:
            return "skipped", "goal no longer in the agreement"
        if now - occurrence["due_at"] > GOAL_STALE_AFTER:
            return "expired", "more than 2 hours late"
    else:
        checkups = content.get("checkups", [])
        item = next((c for c in checkups if c["id"] == occurrence["checkup_id"]), None)
        if item is None:
            return "skipped", "check-up no longer in the agreement"
    until = quiet_until(patient.get("timezone"), patient.get("quiet_hours"), now)
    if until is not None:
        return "defer", until
    return "deliver", item


def _rollup_id(occurrence: dict, goal: dict) -> str:
    period_key = local_days.period_key(occurrence["local_date"].date(), goal.get("period", "day"))
    return adherence.rollup_id(occurrence["patient"], goal["id"], period_key)


def _goals_met(deliveries: list[tuple[dict, dict]]) -> set[str]:
    """The rollup ids among these goal reminders whose goal is met: `adherence.goal_met` for
    a whole chunk in one query."""
    ids = [_rollup_id(o, goal) for o, goal in deliveries if o["kind"] == "goal_reminder"]
    if not ids:
        return set()
    # By `_id` alone (filtered here): a second predicate costs the embedded server its plan.
    found = adherence.rollups().find({"_id": {"$in": ids}}, {"met": 1})
    return {doc["_id"] for doc in found if doc.get("met")}


def _deliver_chunk(chunk: list[dict], now: datetime, channel: Channel, counts) -> None:
    patients = _by_id(User, {o["patient"] for o in chunk}, ["timezone", "quiet_hours", "name"])
    agreements = _by_id(
        Agreement,
        {o["agreement"] for o in chunk},
        ["status", "content.goals", "content.checkups"],
    )
    outcomes = defaultdict(list)  # (status, reason) → occurrence ids
    deferrals = defaultdict(list)  # new due_at → occurrence ids
    deliveries = []
    for occurrence in chunk:
        verdict, detail = _decide(
            occurrence,
            patients.get(occurrence["patient"]),
            agreements.get(occurrence["agreement"]),
            now,
        )
        if verdict == "deliver":
            deliveries.append((occurrence, detail))
        elif verdict == "defer":
            deferrals[detail].append(occurrence["_id"])
        else:
            outcomes[(verdict, detail)].append(occurrence["_id"])
    met = _goals_met(deliveries)
    inbox = []
    for occurrence, item in deliveries:
        if occurrence["kind"] == "goal_reminder" and _rollup_id(occurrence, item) in met:
            outcomes[("skipped", "goal already met today")].append(occurrence["_id"])
        else:
            inbox.append(notification_for(occurrence, item, now))
    _write_outcomes(outcomes, deferrals, counts)
    new, retried = _insert_inbox(inbox)
    if new:
        _count(counts, "delivered", len(new))
    _push(new + retried, patients, channel, now, counts)


def _write_outcomes(outcomes, deferrals, counts) -> None:
    requests = []
    for (status, reason), ids in outcomes.items():
        requests.append(
            UpdateMany({"_id": {"$in": ids}}, {"$set": {"status": status, "reason": reason}})
        )
        _count(counts, status, len(ids))
    for until, ids in deferrals.items():
        requests.append(
            UpdateMany(
                {"_id": {"$in": ids}},
                [
                    {
                        "$set": {
                            "deferred_from": {"$ifNull": ["$deferred_from", "$due_at"]},
                            "due_at": until,
                            "reason": "quiet hours",
                        }
                    }
                ],
            )
        )
        _count(counts, "deferred", len(ids))
    if requests:
        Occurrence._get_collection().bulk_write(requests, ordered=False)
    open_slices(slice_of(until) for until in deferrals)


def notification_for(occurrence: dict, item: dict, now: datetime) -> dict:
    kind = occurrence["kind"]
    if kind == "goal_reminder":
        title = item["title"]
        body = "A reminder from your care plan. Log it when it's done."
    elif kind == "checkup_reminder":
        title = f"Check-up coming up: {item['name']}"
        body = f"Due on {occurrence['local_date']:%d %B %Y}. Book it with your care team."
    else:
        title = f"Check-up overdue: {item['name']}"
        body = f"It was due on {occurrence['local_date']:%d %B %Y}. Please book it soon."
    return {
        "_id": ObjectId(),
        "patient": occurrence["patient"],
        "key": occurrence["key"],
        "kind": kind,
        "title": title,
        "body": body,
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
    retried = list(
        collection.find(
            {
                "$or": [
                    {"patient": inbox[i]["patient"], "key": inbox[i]["key"], "push": "pending"}
                    for i in sorted(duplicate)
                ]
            }
        )
    )
    return new, retried


def _push(notifications: list[dict], patients: dict, channel: Channel, now, counts) -> None:
    """Send each notification to every device of its patient; record what failed."""
    if not notifications:
        return
    devices = defaultdict(list)
    for device in Device._get_collection().find(
        {"patient": {"$in": list({n["patient"] for n in notifications})}}
    ):
        devices[device["patient"]].append(device)
    targeted = [n for n in notifications if devices.get(n["patient"])]
    if not targeted:
        return
    collection = Notification._get_collection()
    collection.update_many(
        {"_id": {"$in": [n["_id"] for n in targeted]}, "push": None}, {"$set": {"push": "pending"}}
    )
    for notification in targeted:
        patient = patients.get(notification["patient"]) or {}
        errors = []
        for device in devices[notification["patient"]]:
            result = channel.send(message_for(notification, device, patient))
            if result.unregistered:
                Device.objects(token=device["token"]).delete()
                _count(counts, "devices_removed", 1)
            elif not result.ok:
                errors.append(result.error)
        _count(counts, "pushed" if not errors else "push_failed", 1)
        _record_push(notification, errors)


def message_for(notification: dict, device: dict, patient: dict) -> PushMessage:
    """A caregiver's device is told whose reminder it is."""
    title = notification["title"]
    if device["owner"] != device["patient"]:
        title = f"For {patient.get('name', 'your dependant')}: {title}"
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
        Occurrence._get_collection().update_one(
            {"_id": notification["occurrence"]},
            {"$set": {"status": "failed", "reason": f"push failed: {changes['push_error']}"}},
        )
    Notification._get_collection().update_one({"_id": notification["_id"]}, {"$set": changes})
