import marshmallow as ma
from marshmallow import validate

from api.models.message import AUTHOR_RELATIONS
from api.schemas.base import Schema, UtcDateTime

MAX_MESSAGE_LENGTH = 2000


class MessageCreateSchema(Schema):
    body = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE_LENGTH))

    @ma.validates("body")
    def _not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError("Must not be blank.")


class MessageAuthorSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    role = ma.fields.String(allow_none=True)
    relation = ma.fields.String(metadata={"enum": list(AUTHOR_RELATIONS)})


class MessageSchema(Schema):
    id = ma.fields.String()
    author = ma.fields.Nested(MessageAuthorSchema)
    body = ma.fields.String()
    created_at = UtcDateTime()
