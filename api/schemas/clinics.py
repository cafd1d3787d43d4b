"""Clinics and their providers."""

import marshmallow as ma
from marshmallow import validate

from api.schemas.base import Schema, UtcDateTime
from api.schemas.education import text


class ClinicCreateSchema(Schema):
    name = text(200, required=True, metadata={"example": "Northside Family Practice"})


class ClinicProviderAddSchema(Schema):
    provider_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))


class ClinicProviderSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    specialty = ma.fields.String(allow_none=True)


class ClinicSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    providers = ma.fields.List(ma.fields.Nested(ClinicProviderSchema))
    patient_count = ma.fields.Integer(
        metadata={"description": "Patients on the active care team of any of its providers."}
    )
    created_at = UtcDateTime()


class ApiClientCreateSchema(Schema):
    name = text(200, metadata={"example": "Northside EHR"})


class ApiClientSchema(Schema):
    client_id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)
    last_token_at = UtcDateTime(allow_none=True)


class ApiClientCreatedSchema(ApiClientSchema):
    client_secret = ma.fields.String(
        metadata={"description": "Shown this once; only its hash is kept."}
    )
