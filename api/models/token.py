"""Token revocations: checked on every request (by the write itself on the logging routes:
`session_memory`), cleaned up by a TTL index."""

import mongoengine as me


class Revocation(me.Document):
    """`_id` is `jti:<jti>`, `family:<family>` or `user:<user id>`.

    A user revocation holds `not_before_ms`: tokens of that user issued earlier are void.
    """

    id = me.StringField(primary_key=True)
    not_before_ms = me.IntField()
    reason = me.StringField(max_length=40)
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "revocations",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }


class SpentRefreshToken(me.Document):
    """A refresh token may be exchanged once; the unique `_id` makes a race lose cleanly."""

    id = me.StringField(primary_key=True)
    family = me.StringField(required=True)
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "spent_refresh_tokens",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }
