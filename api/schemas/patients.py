"""Patient records a provider creates (a child with no login of their own)."""

import marshmallow as ma

from api.schemas.accounts import name_field, validate_timezone
from api.schemas.base import Schema, UtcDateTime


class ChildCreateSchema(Schema):
    name = name_field(required=True)
    birth_date = ma.fields.Date(required=True, metadata={"example": "2016-05-14"})
    timezone = ma.fields.String(
        required=True, validate=validate_timezone, metadata={"example": "Europe/Oslo"}
    )


class PatientRecordSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    timezone = ma.fields.String()
    minor = ma.fields.Boolean()
    has_login = ma.fields.Boolean()
    created_at = UtcDateTime()
