"""Accounts: patients (children included, who have no login), providers and admins."""

import mongoengine as me

from api.models.base import TimestampedDocument

ROLES = ("patient", "provider", "admin")
GLUCOSE_UNITS = ("mg/dL", "mmol/L")


class QuietHours(me.EmbeddedDocument):
    start = me.StringField(required=True, max_length=5)
    end = me.StringField(required=True, max_length=5)


class User(TimestampedDocument):
    # Stored lower-cased, so the unique index makes email case-insensitively unique.
    email = me.StringField(max_length=254)
    password_hash = me.StringField(max_length=512)
    name = me.StringField(required=True, max_length=200)
    role = me.StringField(required=True, choices=ROLES)
    specialty = me.StringField(max_length=80)
    timezone = me.StringField(required=True, default="UTC", max_length=64)
    reminder_time = me.StringField(default="08:00", max_length=5)
    quiet_hours = me.EmbeddedDocumentField(QuietHours)
    glucose_unit = me.StringField(choices=GLUCOSE_UNITS)
    outreach_opt_out = me.BooleanField(default=False)
    birth_date = me.DateField()
    created_by = me.ObjectIdField()
    # Someone tried to sign up with this address (its owner was mailed a notice).
    signup_attempted_at = me.DateTimeField()

    meta = {
        "collection": "users",
        "indexes": [
            {
                "fields": ["email"],
                "unique": True,
                "partialFilterExpression": {"email": {"$type": "string"}},
            },
            {"fields": ["role", "specialty"]},
            # The nightly job walks patients one time zone at a time.
            {"fields": ["role", "timezone"]},
        ],
    }

    @property
    def has_login(self) -> bool:
        return bool(self.email and self.password_hash)
