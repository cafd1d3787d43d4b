"""Failed sign-ins of one account from anywhere: the account-wide brake on guessing."""

import mongoengine as me


class LoginFailures(me.Document):
    """`_id` is the normalised email (known or not, so both behave alike)."""

    id = me.StringField(primary_key=True, max_length=254)
    count = me.IntField(required=True, default=0)
    last_at = me.DateTimeField(required=True)
    # A day without a failure forgets them (TTL index).
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "login_failures",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }
