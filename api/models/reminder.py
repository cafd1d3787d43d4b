"""Reminder occurrences, and the minute slices workers claim to deliver them.

An occurrence is one reminder at one instant, unique per (patient, key), so planning twice
stores it once. A delivered occurrence is not rewritten: its inbox notification (same unique
key) is the record of delivery, which keeps a dispatch tick at one write per reminder. Only
the exceptions are written back: `skipped`, `expired`, `failed` (with a reason) and deferrals.

Workers never claim occurrences one by one: they claim a `ReminderSlice` (every occurrence due
in one UTC minute) with an expiring lease. A slice stays `open` while it may hold work.
"""

import mongoengine as me

from api.models.user import QuietHours

KINDS = ("goal_reminder", "checkup_reminder", "checkup_overdue")
# `pending` covers delivered ones too: delivery is recorded by the notification.
STATUSES = ("pending", "skipped", "expired", "failed")


class Occurrence(me.Document):
    patient = me.ObjectIdField(required=True)
    # e.g. goal:<goal id>:<local date>T<HH:MM>, checkup:<checkup id>:<due date>:before:7
    key = me.StringField(required=True, max_length=200)
    kind = me.StringField(required=True, choices=KINDS)
    agreement = me.ObjectIdField(required=True)
    goal_id = me.StringField(max_length=40)
    goal_period = me.StringField(max_length=10)  # "day" or "week": which rollup says "met"
    checkup_id = me.StringField(max_length=40)
    # The patient's local day the reminder belongs to (a goal's day; a check-up's due date).
    local_date = me.DateField(required=True)
    due_at = me.DateTimeField(required=True)
    # Set when quiet hours pushed the reminder back: the instant it was first due.
    deferred_from = me.DateTimeField()
    # Copied at planning, so a busy minute is delivered without loading patients or
    # agreements; re-planning (agreement or schedule changes, devices) refreshes them.
    title = me.StringField(required=True, max_length=300)
    body = me.StringField(required=True, max_length=2000)
    timezone = me.StringField(required=True, max_length=64)
    quiet_hours = me.EmbeddedDocumentField(QuietHours)
    patient_name = me.StringField(max_length=200)
    has_devices = me.BooleanField(default=False)
    status = me.StringField(required=True, choices=STATUSES, default="pending")
    reason = me.StringField(max_length=300)
    planned_at = me.DateTimeField(required=True)

    meta = {
        "collection": "reminder_occurrences",
        "indexes": [
            {"fields": ["patient", "key"], "unique": True},
            # A slice reads its minute; re-planning drops a patient's future reminders.
            ("status", "due_at"),
            ("patient", "due_at"),
        ],
    }


class ReminderSlice(me.Document):
    """Every occurrence due in the minute starting at `id`; claimed whole, with a lease.

    `generation` grows whenever an occurrence is added to the slice, so a worker closes it
    only if nothing arrived while it was delivering.
    """

    id = me.DateTimeField(primary_key=True)
    open = me.BooleanField()
    generation = me.IntField(required=True, default=0)
    lease_owner = me.StringField(max_length=120)
    # Claimable once this has passed: the slice's own minute, or the end of a worker's lease.
    lease_until = me.DateTimeField(required=True)
    closed_at = me.DateTimeField()

    meta = {
        "collection": "reminder_slices",
        # Only open slices are indexed, so an idle tick reads a tiny index whatever the size.
        "indexes": [
            {"fields": ["open", "lease_until"], "partialFilterExpression": {"open": True}},
        ],
    }


class DayClose(me.Document):
    """One patient's local day, closed by the nightly job: idempotent per (patient, date)."""

    patient = me.ObjectIdField(required=True)
    local_date = me.DateField(required=True)
    closed_at = me.DateTimeField(required=True)

    meta = {
        "collection": "day_closes",
        "indexes": [{"fields": ["patient", "local_date"], "unique": True}],
    }
