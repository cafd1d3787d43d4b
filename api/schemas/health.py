import marshmallow as ma

from api.schemas.base import Schema


class HealthSchema(Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
