"""Queue pushes and mail in MongoDB; the jobs worker's `send_due` sends them.

Enqueueing is idempotent by `_id` (see `api.models.outbox`): entries are inserted unordered
and a duplicate is simply not inserted again, so a retried request or tick never queues a
second copy, and an entry once sent is never sent again by a retry.

Sending (`send_due`): a worker claims a small batch of due entries with one `update_many`
stamped with its own claim token and a lease; the entries of a worker that dies mid-send are
claimable again when the lease runs out. Each entry's outcome is written as soon as it is
known, and only by the claim that still holds it:
  - sent → `sent`;
  - the device is gone, or the push service says its token is dead (the device is removed)
    → `dropped`;
  - a transient failure → back to `pending`, due again after an exponential backoff, until
    the attempts run out → `failed` with its reason (so does a permanent refusal at once).
A finished entry keeps its outcome, not its text. Each settled send is counted in
`api.metrics` (pushes, mails, and a reminder whose push failed for good).
"""

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import metrics
from api.db import find_in
from api.models.notification import Device
from api.models.outbox import OutboxEntry
from api.models.reminder import KINDS as REMINDER_KINDS
from api.services.notify.mail import Mail, Mailer, MailError
from api.services.notify.push import Channel, PushMessage

DUPLICATE_KEY = 11000
CLAIM_BATCH = 20
MAX_BATCHES_PER_TICK = 50
ERROR_MAX = 300
_CONTENT = {"title": "", "body": "", "data": "", "text": ""}


@dataclass(frozen=True)
class Policy:
    """How patiently the worker sends: attempts per kind, backoff, lease, per-send timeout."""

    push_attempts: int = 8
    mail_attempts: int = 10
    backoff: timedelta = timedelta(seconds=15)
    backoff_max: timedelta = timedelta(hours=1)
    # A crashed worker's entries wait this long; a live one hands back what it cannot send
    # before its lease ends (each send is bounded by `send_timeout`).
    lease: timedelta = timedelta(minutes=1)
    send_timeout: timedelta = timedelta(seconds=10)

    def attempts(self, kind: str) -> int:
        return self.push_attempts if kind == "push" else self.mail_attempts

    def retry_after(self, attempts: int) -> timedelta:
        return min(self.backoff * 2 ** max(attempts - 1, 0), self.backoff_max)


def policy_from_settings(settings) -> Policy:
    send_timeout = timedelta(
        seconds=max(settings.get("PUSH_TIMEOUT_S", 5), settings.get("SMTP_TIMEOUT_S", 10))
    )
    return Policy(
        push_attempts=settings.get("PUSH_MAX_ATTEMPTS", 8),
        mail_attempts=settings.get("MAIL_MAX_ATTEMPTS", 10),
        backoff=timedelta(seconds=settings.get("OUTBOX_BACKOFF_S", 15)),
        # Room for a few sends however slow the timeouts are set.
        lease=max(Policy.lease, send_timeout * 4),
        send_timeout=send_timeout,
    )


def entries():
    return OutboxEntry._get_collection()


# --- enqueueing -----------------------------------------------------------------------------


def insert_unordered(docs: list[dict]) -> int:
    """Insert what is not there yet; return how many were new."""
    if not docs:
        return 0
    try:
        return len(entries().insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as error:
        if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise
        return error.details["nInserted"]


def _pending(kind: str, _id: str, now: datetime, due_at: datetime | None) -> dict:
    return {
        "_id": _id,
        "kind": kind,
        "state": "pending",
        "due_at": due_at or now,
        "attempts": 0,
        "created_at": now,
    }


def enqueue_mail(*, key: str, to: str, subject: str, text: str, now: datetime) -> bool:
    """Queue one mail; idempotent per `key` (False when that key was queued before).

    The key names the occasion, e.g. `verify:<account>:<code id>`; the worker sends it."""
    try:
        entries().insert_one(
            {
                **_pending("mail", f"mail:{key}", now, None),
                "to": to,
                "subject": subject[:300],
                "text": text,
            }
        )
    except DuplicateKeyError:
        return False
    return True


def addressee(notification: dict):
    """Whose devices hear it: its recipient (a provider, for an alert), else the patient."""
    return notification.get("recipient") or notification["patient"]


def push_title(notification: dict, device: dict, names: dict) -> str:
    """A caregiver's device is told whose notification it is."""
    title = notification["title"]
    if device["owner"] != device["patient"]:
        title = f"For {names.get(device['patient']) or 'your dependant'}: {title}"
    return title


def enqueue_pushes(
    notifications: list[dict], *, names: dict, now: datetime, defer: dict | None = None
) -> int:
    """One entry per (notification, device of its addressee); returns how many were new.

    `names`: addressee → the patient's name; `defer`: addressee → when its push may leave
    (the end of quiet hours). Addressees without devices cost one read and no write."""
    if not notifications:
        return 0
    defer = defer or {}
    devices = defaultdict(list)
    wanted = {addressee(n) for n in notifications}
    for device in find_in(Device._get_collection(), "patient", wanted):
        devices[device["patient"]].append(device)
    queued = []
    for notification in notifications:
        to = addressee(notification)
        for device in devices.get(to, ()):
            _id = f"push:{notification['patient']}:{notification['key']}:{device['_id']}"
            queued.append(
                {
                    **_pending("push", _id, now, defer.get(to)),
                    "patient": notification["patient"],
                    "device": device["_id"],
                    "notification": notification["_id"],
                    "key": notification["key"],
                    "title": push_title(notification, device, names)[:400],
                    "body": notification["body"],
                    "data": {
                        "kind": notification["kind"],
                        "notification_id": str(notification["_id"]),
                    },
                }
            )
    return insert_unordered(queued)


# --- sending --------------------------------------------------------------------------------


def claim(now: datetime, worker: str, lease: timedelta) -> tuple[str, list[dict]]:
    """Lease up to CLAIM_BATCH due entries for this worker: (claim token, entries)."""
    due = entries().find(
        {"state": "pending", "due_at": {"$lte": now}},
        {"_id": 1},
        sort=[("state", 1), ("due_at", 1)],
    )
    ids = [doc["_id"] for doc in due.limit(CLAIM_BATCH)]
    if not ids:
        return "", []
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    entries().update_many(
        {"_id": {"$in": ids}, "state": "pending", "due_at": {"$lte": now}},
        {"$set": {"lease_owner": token, "due_at": now + lease}, "$inc": {"attempts": 1}},
    )
    return token, list(entries().find({"_id": {"$in": ids}, "lease_owner": token}))


def _finish(entry: dict, token: str, state: str, now: datetime, error: str | None = None):
    changes = {"$set": {"state": state, "done_at": now}, "$unset": {**_CONTENT, "lease_owner": ""}}
    if error:
        changes["$set"]["last_error"] = error[:ERROR_MAX]
    entries().update_one({"_id": entry["_id"], "lease_owner": token}, changes)


def _retry_or_fail(entry: dict, token: str, error: str, policy: Policy, now: datetime) -> str:
    if entry["attempts"] >= policy.attempts(entry["kind"]):
        _finish(entry, token, "failed", now, f"{error} after {entry['attempts']} attempts")
        return "failed"
    entries().update_one(
        {"_id": entry["_id"], "lease_owner": token},
        {
            "$set": {
                "due_at": now + policy.retry_after(entry["attempts"]),
                "last_error": error[:ERROR_MAX],
            },
            "$unset": {"lease_owner": ""},
        },
    )
    return "retrying"


def _release(rest: list[dict], token: str, now: datetime) -> None:
    """Hand back what this claim will not get to before its lease ends (not an attempt)."""
    entries().update_many(
        {"_id": {"$in": [e["_id"] for e in rest]}, "lease_owner": token},
        {"$set": {"due_at": now}, "$unset": {"lease_owner": ""}, "$inc": {"attempts": -1}},
    )


def _send_push(entry, token, device, channel: Channel, policy, now) -> str:
    if device is None:
        _finish(entry, token, "dropped", now, "device removed")
        return "dropped"
    result = channel.send(
        PushMessage(
            token=device["token"],
            platform=device["platform"],
            title=entry["title"],
            body=entry["body"],
            key=entry["key"],
            data=entry.get("data") or {},
        )
    )
    if result.ok:
        _finish(entry, token, "sent", now)
        return "sent"
    if result.unregistered:
        Device._get_collection().delete_many({"token": device["token"]})
        _finish(entry, token, "dropped", now, "token unregistered: device removed")
        return "dropped"
    if result.transient:
        return _retry_or_fail(entry, token, result.error or "push failed", policy, now)
    _finish(entry, token, "failed", now, result.error or "push refused")
    return "failed"


def _send_mail(entry, token, mailer: Mailer, policy, now) -> str:
    try:
        mailer.send(
            Mail(key=entry["_id"], to=entry["to"], subject=entry["subject"], text=entry["text"])
        )
    except MailError as error:
        if error.transient:
            return _retry_or_fail(entry, token, str(error), policy, now)
        _finish(entry, token, "failed", now, str(error))
        return "failed"
    _finish(entry, token, "sent", now)
    return "sent"


def _of_a_reminder(entry: dict) -> bool:
    return (entry.get("data") or {}).get("kind") in REMINDER_KINDS


def send_due(
    *,
    now: datetime,
    worker: str,
    push: Channel,
    mailer: Mailer,
    policy: Policy = Policy(),
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """The send_outbox job: every due entry this worker can claim, a batch at a time."""
    started = clock()

    def current() -> datetime:
        return now + timedelta(seconds=clock() - started)

    counts: dict[str, int] = {}
    for _ in range(MAX_BATCHES_PER_TICK):
        claimed_at = current()
        token, batch = claim(claimed_at, worker, policy.lease)
        if not batch:
            break
        lease_end = claimed_at + policy.lease
        devices = {
            d["_id"]: d
            for d in find_in(
                Device._get_collection(), "_id", [e["device"] for e in batch if e["kind"] == "push"]
            )
        }
        for position, entry in enumerate(batch):
            at = current()
            if at + policy.send_timeout * 2 > lease_end:
                _release(batch[position:], token, at)
                if position == 0:  # a lease too short to send anything: don't spin
                    return counts
                break
            if entry["kind"] == "push":
                outcome = _send_push(entry, token, devices.get(entry["device"]), push, policy, at)
                metrics.push_settled(push.name, outcome, reminder=_of_a_reminder(entry))
            else:
                outcome = _send_mail(entry, token, mailer, policy, at)
                metrics.mail_settled(mailer.name, outcome)
            key = f"{entry['kind']}_{outcome}"
            counts[key] = counts.get(key, 0) + 1
    return counts
