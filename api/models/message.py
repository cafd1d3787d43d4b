"""The care-team thread of a patient: messages, and per-provider unread counts."""

import mongoengine as me

AUTHOR_RELATIONS = ("self", "team", "caregiver")


class Message(me.Document):
    patient = me.ObjectIdField(required=True)
    author = me.ObjectIdField(required=True)
    # How the author stands to the patient: the patient, a provider, or a caregiver.
    relation = me.StringField(required=True, choices=AUTHOR_RELATIONS)
    body = me.StringField(required=True, max_length=2000)
    created_at = me.DateTimeField(required=True)

    meta = {"collection": "messages", "indexes": [("patient", "-created_at")]}


class MessageThread(me.Document):
    """One per patient (`_id` = patient id). `unread` maps a provider id to the number of
    messages others wrote since that provider last read the thread."""

    id = me.ObjectIdField(primary_key=True)
    unread = me.MapField(me.IntField(min_value=0), default=dict)
    count = me.IntField(default=0)
    last_message_at = me.DateTimeField()

    meta = {"collection": "message_threads"}
