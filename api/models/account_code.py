"""Codes mailed to an address: a sign-up awaiting verification, a password reset or set-up.

Only a hash of each code is kept; both expire by TTL index, and a code dies after
`MAX_TRIES` wrong guesses.
"""

import mongoengine as me

CODE_PURPOSES = ("reset", "setup")


class Registration(me.Document):
    """A patient sign-up waiting for `POST /auth/verify-email`; the account exists only then.

    Keyed by the normalised email: signing up again replaces it (new password, new code).
    """

    id = me.StringField(primary_key=True, max_length=254)
    password_hash = me.StringField(required=True, max_length=512)
    name = me.StringField(required=True, max_length=200)
    timezone = me.StringField(required=True, max_length=64)
    invite_code = me.StringField(max_length=64)
    code_hash = me.StringField(max_length=64)
    tries = me.IntField(required=True, default=0)
    created_at = me.DateTimeField(required=True)
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "registrations",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }


class AccountCode(me.Document):
    """A code that lets the owner of an address choose a new password (`reset`), or a
    provider an admin created choose their first one (`setup`). One per address."""

    id = me.StringField(primary_key=True, max_length=254)
    user = me.ObjectIdField()  # absent: no account has this address (nothing was sent)
    purpose = me.StringField(required=True, choices=CODE_PURPOSES)
    code_hash = me.StringField(max_length=64)
    tries = me.IntField(required=True, default=0)
    created_at = me.DateTimeField(required=True)
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "account_codes",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],
    }
