"""The education library and patients' progress."""

from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import validate

from api.models.education import AUDIENCES, ITEM_ID_MAX, PROGRESS_STATUSES
from api.schemas.base import Schema, UtcDateTime
from api.services.common import markdown

MAX_CONDITIONS = 10


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


def text(max_length: int, **kwargs):
    return ma.fields.String(validate=[validate.Length(min=1, max=max_length), _not_blank], **kwargs)


def validate_https_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ma.ValidationError("Must be an https:// link.")


def validate_markdown(value: str) -> None:
    found = markdown.problems(value)
    if found:
        raise ma.ValidationError(found)


class EducationCreateSchema(Schema):
    """Exactly one of `url` (public information elsewhere) or `body` (Markdown of our own)."""

    title = text(200, required=True)
    summary = text(1000, required=True)
    url = ma.fields.String(
        validate=[validate.Length(max=2000), validate_https_url],
        metadata={"example": "https://www.nhs.uk/conditions/type-2-diabetes/"},
    )
    body = ma.fields.String(
        validate=[validate.Length(min=1, max=20000), validate_markdown],
        metadata={"description": "Markdown; raw HTML and non-https links are refused."},
    )
    conditions = ma.fields.List(
        text(80), validate=validate.Length(max=MAX_CONDITIONS), load_default=list
    )
    audience = ma.fields.String(required=True, validate=validate.OneOf(AUDIENCES))
    reading_minutes = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=240))

    @ma.validates_schema
    def _link_or_body(self, data, **kwargs):
        if "url" in data and "body" in data:
            raise ma.ValidationError({"body": ["Send either a url or a body, not both."]})
        if "url" not in data and "body" not in data:
            raise ma.ValidationError({"url": ["Send a url or a Markdown body."]})


class StarterItemSchema(EducationCreateSchema):
    """A starter-library entry in api/data/education/*.json: a stable slug id besides."""

    id = ma.fields.String(
        required=True,
        validate=[validate.Length(min=3, max=ITEM_ID_MAX), validate.Regexp(r"^[a-z0-9-]+$")],
    )


class EducationQuerySchema(Schema):
    condition = text(80)
    audience = ma.fields.String(validate=validate.OneOf(AUDIENCES))
    q = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Words of the title or summary (prefixes of 3+ letters)."},
    )


class EducationItemSchema(Schema):
    id = ma.fields.String()
    title = ma.fields.String()
    summary = ma.fields.String()
    url = ma.fields.String(allow_none=True)
    body = ma.fields.String(allow_none=True, metadata={"description": "The Markdown source."})
    body_html = ma.fields.String(
        allow_none=True, metadata={"description": "Safe HTML: no raw HTML, https links only."}
    )
    conditions = ma.fields.List(ma.fields.String())
    audience = ma.fields.String(metadata={"enum": list(AUDIENCES)})
    reading_minutes = ma.fields.Integer()
    author = ma.fields.Method(
        "_author",
        metadata={
            "type": "object",
            "properties": {"id": {"type": "string", "nullable": True}, "name": {"type": "string"}},
            "description": "Who wrote it; `id` is null for the starter library.",
        },
    )
    matches_panel = ma.fields.Boolean(
        metadata={"description": "Only with ?audience=provider: for a condition on your panel."}
    )
    created_at = UtcDateTime()

    def _author(self, item):
        return {"id": str(item.author) if item.author else None, "name": item.author_name}


class ProgressCreateSchema(Schema):
    status = ma.fields.String(
        required=True, validate=validate.OneOf([s for s in PROGRESS_STATUSES if s != "new"])
    )


class AssignedItemSchema(Schema):
    item_id = ma.fields.String()
    item = ma.fields.Nested(EducationItemSchema)
    status = ma.fields.String(metadata={"enum": list(PROGRESS_STATUSES)})
    assigned_at = UtcDateTime()
    viewed_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
