"""The patient's inbox, and the devices that receive push notifications.

A reminder's notification carries the occurrence's key, unique per patient: however often a
slice is retried, the inbox shows it once. `patient` is whose records it is about; `recipient`
is whose inbox it is in when that is someone else (a provider hearing of a patient's alert).
Its pushes, one per device, are entries of the outbox (`api.models.outbox`).
"""

import mongoengine as me

from api.models.base import TimestampedDocument

PLATFORMS = ("ios", "android")
NOTIFICATION_KINDS = (
    "goal_reminder",
    "checkup_reminder",
    "checkup_overdue",
    "message",
    "alert",
    "outreach",
    "education",
)


class Notification(me.Document):
    patient = me.ObjectIdField(required=True)
    recipient = me.ObjectIdField()  # absent: the patient's own inbox
    key = me.StringField(required=True, max_length=200)
    kind = me.StringField(required=True, choices=NOTIFICATION_KINDS)
    title = me.StringField(required=True, max_length=300)
    body = me.StringField(required=True, max_length=2000)
    created_at = me.DateTimeField(required=True)
    read_at = me.DateTimeField()
    occurrence = me.ObjectIdField()
    alert = me.ObjectIdField()

    meta = {
        "collection": "notifications",
        "indexes": [
            {"fields": ["patient", "key"], "unique": True},
            # The inbox: a patient's own notifications (no recipient, or themselves), newest first.
            ("patient", "recipient", "-created_at"),
            ("recipient", "-created_at"),
        ],
    }


class Device(TimestampedDocument):
    """A push token: `patient` is whose reminders it gets, `owner` who registered it."""

    patient = me.ObjectIdField(required=True)
    owner = me.ObjectIdField(required=True)
    platform = me.StringField(required=True, choices=PLATFORMS)
    token = me.StringField(required=True, max_length=4096)

    meta = {
        "collection": "devices",
        "indexes": [
            # Idempotent per token for each patient: one phone may serve a caregiver's
            # several dependants. Leading with the token also finds it when FCM drops it.
            {"fields": ["token", "patient"], "unique": True},
            ("patient", "created_at"),
        ],
    }
