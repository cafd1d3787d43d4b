"""The care-team thread: one per patient, shared by the patient (and caregivers with
`manage`) and the active care team.

A message from a provider reaches the patient's inbox, and a push per device is queued for
the worker (one notification per message, keyed by the message id, so a retry never shows
twice; its push waits out the patient's quiet hours). Every message counts as unread for
each active provider but its author, until that provider reads the thread.
"""

from datetime import datetime

from bson import ObjectId

from api.errors import Forbidden
from api.models.message import Message, MessageThread
from api.models.user import User
from api.services.clinic import panel
from api.services.common.acting import Acting
from api.services.notify import delivery
from api.services.reminders import planning as reminders

PREVIEW = "Open CarePact to read it."


def thread_for(patient_id):
    """The patient's messages, newest first."""
    return Message.objects(patient=patient_id).order_by("-created_at", "-id")


def _check_may_write(scope: Acting) -> None:
    # Caregivers act for the patient in the thread only with `manage` (the contract's rule).
    if scope.relation == "caregiver" and "manage" not in scope.permissions:
        raise Forbidden("This caregiver grant does not include the 'manage' permission.")


def post(scope: Acting, *, body: str, now: datetime) -> Message:
    _check_may_write(scope)
    message = Message(
        patient=scope.patient_id,
        author=scope.caller_id,
        relation=scope.relation,
        body=body,
        created_at=now,
    ).save(force_insert=True)
    _count_unread(message)
    if scope.relation == "team":
        _notify_patient(message, now)
    return message


def _count_unread(message: Message) -> None:
    """One write: +1 for every active provider but the author; the author has read it all."""
    update = {
        "$inc": {"count": 1},
        "$max": {"last_message_at": message.created_at},
    }
    for provider in panel.active_providers(message.patient) - {message.author}:
        update["$inc"][f"unread.{provider}"] = 1
    if message.relation == "team":
        update["$set"] = {f"unread.{message.author}": 0}
    MessageThread._get_collection().update_one({"_id": message.patient}, update, upsert=True)


def _notify_patient(message: Message, now: datetime) -> None:
    patient = User._get_collection().find_one(
        {"_id": message.patient}, {"name": 1, "timezone": 1, "quiet_hours": 1}
    ) or {"_id": message.patient}
    author = User._get_collection().find_one({"_id": message.author}, {"name": 1}) or {}
    notification = {
        "_id": ObjectId(),
        "patient": message.patient,
        "recipient": message.patient,
        "key": f"message:{message.pk}",
        "kind": "message",
        "title": f"New message from {author.get('name') or 'your care team'}"[:300],
        # The text itself stays in the app: a lock screen is no place for health matters.
        "body": PREVIEW,
        "created_at": now,
    }
    quiet = reminders.quiet_until(patient.get("timezone"), patient.get("quiet_hours"), now)
    delivery.deliver(
        [notification],
        names={message.patient: patient.get("name")},
        now=now,
        defer={message.patient: quiet} if quiet else None,
    )


def mark_read(patient_id, provider_id) -> None:
    """A provider read the thread: nothing of it is unread for them any more."""
    MessageThread._get_collection().update_one(
        {"_id": patient_id, f"unread.{provider_id}": {"$gt": 0}},
        {"$set": {f"unread.{provider_id}": 0}},
    )


def unread_for(provider_id, patient_id) -> int:
    thread = MessageThread._get_collection().find_one({"_id": patient_id}, {"unread": 1}) or {}
    return (thread.get("unread") or {}).get(str(provider_id), 0)


def present(messages) -> list[dict]:
    people = {
        u["_id"]: u
        for u in User._get_collection().find(
            {"_id": {"$in": list({m.author for m in messages})}}, {"name": 1, "role": 1}
        )
    }
    return [
        {
            "id": str(m.pk),
            "author": {
                "id": str(m.author),
                "name": (people.get(m.author) or {}).get("name"),
                "role": (people.get(m.author) or {}).get("role"),
                "relation": m.relation,
            },
            "body": m.body,
            "created_at": m.created_at,
        }
        for m in messages
    ]
