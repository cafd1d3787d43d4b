"""Stored outcomes of writes sent with an Idempotency-Key, so a retried request replays."""

import mongoengine as me


class IdempotencyRecord(me.Document):
    """`_id` is `<user id>:<key>`; the unique `_id` makes two racing retries run once."""

    id = me.StringField(primary_key=True)
    fingerprint = me.StringField(required=True)
    completed = me.BooleanField(default=False)
    status = me.IntField()
    body = me.BinaryField()
    content_type = me.StringField()
    headers = me.DictField()
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "idempotency_records",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }
