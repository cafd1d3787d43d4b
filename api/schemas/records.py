"""Bodies of the records routes: the erasure confirmation and the exported FHIR Bundle."""

import marshmallow as ma
from marshmallow import validate

from api.schemas.accounts import PASSWORD_MAX
from api.schemas.base import Schema


class ErasureSchema(Schema):
    password = ma.fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=PASSWORD_MAX),
        metadata={"description": "The account's current password, to confirm the erasure."},
    )


class BundleSchema(ma.Schema):
    """A FHIR R4 Bundle of type `collection` (application/fhir+json); the resources follow
    the FHIR specification, so they are not spelled out here."""

    resourceType = ma.fields.String(metadata={"example": "Bundle"})
    id = ma.fields.String()
    type = ma.fields.String(metadata={"example": "collection"})
    timestamp = ma.fields.String(metadata={"format": "date-time"})
    entry = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "`{fullUrl, resource}` for each resource."},
    )
