"""The partnership: which providers share a patient's care, and how they joined."""

import mongoengine as me

from api.models.base import TimestampedDocument

MEMBER_ROLES = ("primary", "specialist", "nurse", "other")
MEMBER_STATUSES = ("pending", "active", "ended")


class CareTeamMember(TimestampedDocument):
    patient = me.ObjectIdField(required=True)
    provider = me.ObjectIdField(required=True)
    role = me.StringField(required=True, choices=MEMBER_ROLES)
    status = me.StringField(required=True, choices=MEMBER_STATUSES)
    # True while pending or active: one open membership per (patient, provider).
    open = me.BooleanField()
    reason = me.StringField(max_length=1000)
    referred_by = me.ObjectIdField()
    activated_at = me.DateTimeField()
    ended_at = me.DateTimeField()
    ended_by = me.ObjectIdField()

    meta = {
        "collection": "care_team_members",
        "indexes": [
            {
                "fields": ["patient", "provider"],
                "unique": True,
                "partialFilterExpression": {"open": True},
                "name": "one_open_membership",
            },
            {"fields": ["provider", "status", "patient"]},
            {"fields": ["patient", "status"]},
        ],
    }


class Invitation(TimestampedDocument):
    """A one-time code a patient redeems to join a provider's panel; only its hash is kept."""

    code_hash = me.StringField(required=True, unique=True)
    provider = me.ObjectIdField(required=True)
    role = me.StringField(required=True, choices=MEMBER_ROLES, default="primary")
    expires_at = me.DateTimeField(required=True)
    used_at = me.DateTimeField()
    used_by = me.ObjectIdField()

    meta = {"collection": "invitations", "indexes": ["provider"]}


class AccessLogEntry(me.Document):
    """Who read or changed a patient's records; never the health data itself."""

    patient = me.ObjectIdField(required=True)
    actor = me.ObjectIdField()
    actor_role = me.StringField(max_length=20)
    relation = me.StringField(max_length=20)
    action = me.StringField(required=True, max_length=200)
    at = me.DateTimeField(required=True)

    meta = {"collection": "access_log", "indexes": [("patient", "-at")]}
