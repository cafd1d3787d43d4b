"""Outreach campaigns: a clinic's message to a cohort of its patients, delivered once each.

The cohort is frozen when the campaign is created (`targets`). Delivery works through
`work` (patients still to reach) under an expiring lease, like a reminder slice: a crashed
worker's lease runs out and the next worker repeats the round, and each patient's inbox
notification, unique per (patient, `campaign:<id>`), is the record of delivery, so a repeated
round writes nothing twice. Patients inside their quiet hours stay in `work` for a later round.

The notification for `targets[i]` has the `_id` `id_prefix` + i (3 bytes), so the campaign's
delivered and read counts are read from the inbox by `_id`, with no index of its own.
"""

import mongoengine as me

from api.models.base import TimestampedDocument

MAX_TARGETS = 1 << 24  # the 3-byte index in a notification's _id
STATUSES = ("scheduled", "sending", "sent")


class Cohort(me.EmbeddedDocument):
    condition = me.StringField(max_length=80)
    care_gap = me.StringField(max_length=80)
    adherence_below = me.FloatField(min_value=0, max_value=100)
    age_min = me.IntField(min_value=0, max_value=130)
    age_max = me.IntField(min_value=0, max_value=130)


class Message(me.EmbeddedDocument):
    title = me.StringField(required=True, max_length=120)
    body = me.StringField(required=True, max_length=1000)


class Campaign(TimestampedDocument):
    clinic = me.ObjectIdField(required=True)
    name = me.StringField(required=True, max_length=200)
    cohort = me.EmbeddedDocumentField(Cohort, required=True)
    message = me.EmbeddedDocumentField(Message, required=True)
    education_item_id = me.StringField(max_length=40)
    education_title = me.StringField(max_length=200)
    send_at = me.DateTimeField(required=True)
    created_by = me.ObjectIdField(required=True)
    targets = me.ListField(me.ObjectIdField())
    # Targets with a push device when the campaign was created (as reminders are planned).
    push_to = me.ListField(me.ObjectIdField())
    # Targets with an overdue check-up when targeted, by check-up key (gap_closed_30d).
    gapped = me.MapField(me.ListField(me.ObjectIdField()))
    id_prefix = me.StringField(required=True, max_length=18)  # 9 bytes, hex
    status = me.StringField(required=True, choices=STATUSES, default="scheduled")
    # Delivery: `open` while work remains; claimable once `lease_until` has passed.
    open = me.BooleanField()
    lease_until = me.DateTimeField()
    lease_owner = me.StringField(max_length=200)
    work = me.ListField(me.ObjectIdField())
    first_sent_at = me.DateTimeField()
    finished_at = me.DateTimeField()
    opted_out = me.IntField(default=0)
    left_clinic = me.IntField(default=0)

    meta = {
        "collection": "campaigns",
        "indexes": [("open", "lease_until"), ("clinic", "-created_at")],
    }
