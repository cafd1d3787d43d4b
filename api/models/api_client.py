"""Clinic system clients: an EHR's read-only credentials for the FHIR API."""

import mongoengine as me


class ApiClient(me.Document):
    """One OAuth 2.0 client (client credentials) of a clinic; only the secret's hash is kept.

    `client_id` is public and random; `revoked_at` ends it (its tokens are revoked too).
    `tokens_issued`/`last_token_at` are the token endpoint's record of its use.
    """

    clinic = me.ObjectIdField(required=True)
    client_id = me.StringField(required=True, max_length=64)
    secret_hash = me.StringField(required=True, max_length=64)
    name = me.StringField(max_length=200)
    created_by = me.ObjectIdField(required=True)
    created_at = me.DateTimeField(required=True)
    revoked_at = me.DateTimeField()
    revoked_by = me.ObjectIdField()
    tokens_issued = me.IntField(default=0)
    last_token_at = me.DateTimeField()

    meta = {
        "collection": "api_clients",
        "indexes": [
            {"fields": ["client_id"], "unique": True},
            ("clinic", "created_at"),
        ],
    }
