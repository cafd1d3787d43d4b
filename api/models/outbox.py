"""The outbox: every push and mail waiting for the jobs worker, and what became of it.

Requests and jobs never talk to a push service or a mail server: they insert an entry here
(idempotently, by a key-derived `_id`) and the worker's `send_outbox` job sends it. An entry
is `pending` until sent; claimable once `due_at` has come (its first due time, a backoff after
a transient failure, or the end of a crashed worker's lease). It ends `sent`, `failed` (given
up, with its reason) or `dropped` (nobody to send it to any more: the device was removed or
its token is dead).

`_id`:
  - `push:<patient>:<notification key>:<device id>`: one per notification and device;
  - `mail:<key>`: one per mail the caller's key names.
"""

import mongoengine as me

KINDS = ("push", "mail")
STATES = ("pending", "sent", "failed", "dropped")


class OutboxEntry(me.Document):
    id = me.StringField(primary_key=True, max_length=400)
    kind = me.StringField(required=True, choices=KINDS)
    state = me.StringField(required=True, choices=STATES, default="pending")
    due_at = me.DateTimeField(required=True)
    lease_owner = me.StringField(max_length=160)
    attempts = me.IntField(required=True, default=0)
    last_error = me.StringField(max_length=300)
    created_at = me.DateTimeField(required=True)
    done_at = me.DateTimeField()
    # A push: the notification it carries, to one device of the addressee.
    patient = me.ObjectIdField()
    device = me.ObjectIdField()
    notification = me.ObjectIdField()
    key = me.StringField(max_length=200)
    title = me.StringField(max_length=400)
    body = me.StringField(max_length=2000)
    data = me.DictField()
    # A mail.
    to = me.StringField(max_length=320)
    subject = me.StringField(max_length=300)
    text = me.StringField(max_length=20000)

    meta = {
        "collection": "outbox",
        "indexes": [
            # Only pending entries are indexed, so an idle tick reads a tiny index.
            {"fields": ["state", "due_at"], "partialFilterExpression": {"state": "pending"}},
            # Erasure removes a patient's queued pushes.
            {"fields": ["patient"], "sparse": True},
        ],
    }
