import marshmallow as ma
from marshmallow import validate

from api.models.care_team import MEMBER_ROLES
from api.schemas.base import Schema, UtcDateTime


class InvitationCreateSchema(Schema):
    role = ma.fields.String(validate=validate.OneOf(MEMBER_ROLES), load_default="primary")
    valid_days = ma.fields.Integer(validate=validate.Range(min=1, max=30), load_default=7)


class InvitationSchema(Schema):
    code = ma.fields.String(required=True, metadata={"example": "K7PM4QX2RT"})
    expires_at = UtcDateTime(required=True)
    role = ma.fields.String(required=True)


class CareTeamRequestSchema(Schema):
    """Either `{code}` (the patient joins) or `{provider_id, role, reason}` (a referral)."""

    code = ma.fields.String(validate=validate.Length(min=4, max=64))
    provider_id = ma.fields.String(validate=validate.Length(min=1, max=64))
    role = ma.fields.String(validate=validate.OneOf(MEMBER_ROLES), load_default="specialist")
    reason = ma.fields.String(validate=validate.Length(max=1000))

    @ma.validates_schema
    def _one_kind(self, data, **kwargs):
        if ("code" in data) == ("provider_id" in data):
            raise ma.ValidationError("Send either a code (to join) or a provider_id (to refer).")


class MemberProviderSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    specialty = ma.fields.String(allow_none=True)


class CareTeamMemberSchema(Schema):
    id = ma.fields.String()
    provider = ma.fields.Nested(MemberProviderSchema)
    specialty = ma.fields.String(allow_none=True)
    role = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["pending", "active", "ended"]})
    reason = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    activated_at = UtcDateTime(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)


class AccessLogEntrySchema(Schema):
    id = ma.fields.String()
    actor = ma.fields.String(allow_none=True)
    actor_role = ma.fields.String(allow_none=True)
    relation = ma.fields.String(allow_none=True)
    action = ma.fields.String()
    at = UtcDateTime()
