"""Caregiver grants and the family switcher."""

import marshmallow as ma
from marshmallow import validate

from api.models.caregiver import PERMISSIONS, RELATIONSHIPS
from api.schemas.base import Schema, UtcDateTime

GRANT_STATUSES_SHOWN = ["pending", "active", "expired", "ended"]


class GrantCreateSchema(Schema):
    relationship = ma.fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))
    permissions = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(PERMISSIONS)),
        required=True,
        validate=validate.Length(min=1, max=len(PERMISSIONS)),
        metadata={
            "description": "Cumulative: `log` includes `view`, `manage` includes both; the "
            "stored grant lists every permission it includes.",
            "example": ["view", "log"],
        },
    )
    expires_on = ma.fields.Date(
        allow_none=True,
        metadata={"description": "The last day of access, in the patient's time zone."},
    )


class GrantCodeSchema(Schema):
    """The answer to issuing a grant: the code is shown this once and never again."""

    id = ma.fields.String()
    code = ma.fields.String(metadata={"example": "K7PM4QX2RT"})
    expires_at = UtcDateTime(metadata={"description": "When the code stops working."})
    status = ma.fields.String(metadata={"enum": ["pending"]})
    relationship = ma.fields.String()
    permissions = ma.fields.List(ma.fields.String())
    expires_on = ma.fields.Date(allow_none=True)


class GrantCaregiverSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class GrantIssuerSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    relation = ma.fields.String(
        allow_none=True,
        metadata={
            "enum": ["self", "caregiver", "team"],
            "description": "How the issuer stood to the patient: the patient, a caregiver "
            "with `manage` (ending their grant ends this one), or a provider on the team.",
        },
    )


class GrantSchema(Schema):
    id = ma.fields.String()
    caregiver = ma.fields.Nested(GrantCaregiverSchema, allow_none=True)
    relationship = ma.fields.String()
    permissions = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"enum": GRANT_STATUSES_SHOWN})
    expires_on = ma.fields.Date(allow_none=True)
    code_expires_at = UtcDateTime(allow_none=True)
    issued_by = ma.fields.Nested(GrantIssuerSchema)
    created_at = UtcDateTime()
    activated_at = UtcDateTime(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)
    ended_reason = ma.fields.String(
        allow_none=True,
        metadata={"description": "`issuer_ended`: ended because its issuer's grant ended."},
    )


class RedeemSchema(Schema):
    code = ma.fields.String(required=True, validate=validate.Length(min=4, max=64))


class DependantSchema(Schema):
    """One patient the caller acts for: an entry of the app's family switcher."""

    grant_id = ma.fields.String()
    patient_id = ma.fields.String()
    name = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    minor = ma.fields.Boolean()
    timezone = ma.fields.String()
    relationship = ma.fields.String()
    permissions = ma.fields.List(ma.fields.String())
    expires_on = ma.fields.Date(allow_none=True)
