"""Telling someone: a notification into the inbox, and a push per device into the outbox.

Both writes are idempotent by key (the inbox's unique (patient, key), the outbox's `_id`), so
a retried request or tick that stopped between them completes the second without doubling
the first. Nothing here talks to the network: the worker sends the outbox.
"""

from datetime import datetime

from pymongo.errors import BulkWriteError

from api.models.notification import Notification
from api.services.notify import outbox

DUPLICATE_KEY = 11000


def insert_inbox(inbox: list[dict]) -> tuple[list[dict], list[dict]]:
    """Insert; return (the new notifications, the stored ones a retry found already there)."""
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
    stored = [
        doc
        for i in sorted(duplicate)
        if (doc := collection.find_one({"patient": inbox[i]["patient"], "key": inbox[i]["key"]}))
    ]
    return new, stored


def deliver(
    inbox: list[dict],
    *,
    names: dict,
    now: datetime,
    with_devices: set | None = None,
    defer: dict | None = None,
) -> tuple[list[dict], int]:
    """Inbox, then the pushes: returns (the new notifications, how many pushes were queued).

    `names`: addressee → the patient's name (a caregiver's phone is told whose it is);
    `with_devices`: when given, only these addressees may have devices (skips the read for
    the rest); `defer`: addressee → when its push may leave (quiet hours)."""
    new, stored = insert_inbox(inbox)
    pushable = [
        n for n in new + stored if with_devices is None or outbox.addressee(n) in with_devices
    ]
    return new, outbox.enqueue_pushes(pushable, names=names, now=now, defer=defer)
