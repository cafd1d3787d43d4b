import marshmallow as ma
from marshmallow import validate

from api.models.notification import NOTIFICATION_KINDS, PLATFORMS
from api.schemas.base import Schema, UtcDateTime


class DeviceCreateSchema(Schema):
    platform = ma.fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    token = ma.fields.String(required=True, validate=validate.Length(min=8, max=4096))


class DeviceSchema(Schema):
    id = ma.fields.String(attribute="public_id")
    platform = ma.fields.String(metadata={"enum": list(PLATFORMS)})
    token = ma.fields.String()
    owner = ma.fields.String(metadata={"description": "Who registered it (a caregiver's id)."})
    created_at = UtcDateTime()


class NotificationQuerySchema(Schema):
    unread = ma.fields.Boolean(load_default=False)


class NotificationSchema(Schema):
    id = ma.fields.String(attribute="pk")
    kind = ma.fields.String(metadata={"enum": list(NOTIFICATION_KINDS)})
    title = ma.fields.String()
    body = ma.fields.String()
    key = ma.fields.String(
        metadata={"description": "The reminder occurrence it delivers; also the push collapse key."}
    )
    created_at = UtcDateTime()
    read_at = UtcDateTime(allow_none=True)
