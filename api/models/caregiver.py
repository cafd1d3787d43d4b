"""Caregiver grants: a patient's records opened to another account, within permissions."""

import mongoengine as me

from api.models.base import TimestampedDocument

RELATIONSHIPS = ("parent", "guardian", "spouse", "other")
# Cumulative, weakest first: a grant stores every permission up to the strongest it holds.
PERMISSIONS = ("view", "log", "manage")
GRANT_STATUSES = ("pending", "active", "ended")


class Grant(TimestampedDocument):
    """One code, then one caregiver: pending until redeemed, active until it ends.

    `code_hash` stays after redemption so a reused code is recognised; the code itself is
    never stored.
    """

    patient = me.ObjectIdField(required=True)
    caregiver = me.ObjectIdField()
    relationship = me.StringField(required=True, choices=RELATIONSHIPS)
    permissions = me.ListField(me.StringField(choices=PERMISSIONS), required=True)
    status = me.StringField(required=True, choices=GRANT_STATUSES)
    code_hash = me.StringField()
    code_expires_at = me.DateTimeField()
    # The last day the grant is in force, in the patient's time zone.
    expires_on = me.DateField()
    created_by = me.ObjectIdField(required=True)
    # How the issuer stood to the patient ("self", "caregiver", "team"); a caregiver's own
    # grant is `issued_under`, and ending that grant ends this one too.
    issuer_relation = me.StringField(max_length=20)
    issued_under = me.ObjectIdField()
    activated_at = me.DateTimeField()
    ended_at = me.DateTimeField()
    ended_by = me.ObjectIdField()
    ended_reason = me.StringField(max_length=40)

    meta = {
        "collection": "caregiver_grants",
        "indexes": [
            {"fields": ["caregiver", "patient", "status"]},
            {"fields": ["patient", "status"]},
            {"fields": ["issued_under", "status"], "sparse": True},
            {
                "fields": ["code_hash"],
                "unique": True,
                "partialFilterExpression": {"code_hash": {"$type": "string"}},
            },
        ],
    }
