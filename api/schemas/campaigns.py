"""Outreach campaigns."""

import re

import marshmallow as ma
from marshmallow import validate

from api.models.education import ITEM_ID_MAX
from api.schemas.base import Schema, UtcDateTime
from api.schemas.education import text, validate_markdown

COHORT_FILTERS = ("condition", "care_gap", "adherence_below", "age_min", "age_max")
# Plain-text messages: any "scheme://" link must be https, and script-like schemes never pass.
_URL_SCHEME = re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]*)\s*:\s*//")
_SCRIPT_SCHEME = re.compile(r"(?i)(?<![a-z0-9])(javascript|vbscript|data|file)\s*:")


def validate_links(value: str) -> None:
    schemes = {m.group(1).lower() for m in _URL_SCHEME.finditer(value)}
    if schemes - {"https"} or _SCRIPT_SCHEME.search(value):
        raise ma.ValidationError("Links must use https://.")


class CampaignCohortSchema(Schema):
    """At least one filter: a campaign never targets a whole clinic by accident."""

    condition = text(80, metadata={"example": "type 2 diabetes"})
    care_gap = ma.fields.String(
        validate=[validate.Length(min=1, max=80), validate.Regexp(r"^[a-z0-9-]+$")],
        metadata={"description": "A check-up key from the population view, e.g. `hba1c`."},
    )
    adherence_below = ma.fields.Float(
        validate=validate.Range(min=0, max=100, min_inclusive=False),
        metadata={"description": "30-day adherence (percent) below this."},
    )
    age_min = ma.fields.Integer(validate=validate.Range(min=0, max=130))
    age_max = ma.fields.Integer(validate=validate.Range(min=0, max=130))

    @ma.validates_schema
    def _at_least_one_filter(self, data, **kwargs):
        if not any(data.get(name) is not None for name in COHORT_FILTERS):
            raise ma.ValidationError(
                f"Choose at least one filter ({', '.join(COHORT_FILTERS)}); a campaign never "
                "targets every patient."
            )
        low, high = data.get("age_min"), data.get("age_max")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError({"age_max": ["Must be at least age_min."]})


class CampaignMessageSchema(Schema):
    title = text(120, required=True, metadata={"example": "Time for your HbA1c test"})
    body = text(
        1000,
        required=True,
        metadata={"description": "Plain text; links only https://, no HTML."},
    )

    @ma.validates("title")
    def _title_links(self, value, **kwargs):
        validate_links(value)

    @ma.validates("body")
    def _body_links(self, value, **kwargs):
        validate_links(value)
        validate_markdown(value)


class CampaignCreateSchema(Schema):
    name = text(200, required=True, metadata={"example": "HbA1c recall, spring"})
    cohort = ma.fields.Nested(CampaignCohortSchema, required=True)
    message = ma.fields.Nested(CampaignMessageSchema, required=True)
    education_item_id = ma.fields.String(validate=validate.Length(min=1, max=ITEM_ID_MAX))
    send_at = UtcDateTime(metadata={"description": "When to send; now if absent. Not past."})


class CampaignQuerySchema(Schema):
    dry_run = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Count the cohort only (200 with `cohort_size`); store nothing."},
    )


class CampaignCohortOutSchema(Schema):
    condition = ma.fields.String(allow_none=True)
    care_gap = ma.fields.String(allow_none=True)
    adherence_below = ma.fields.Float(allow_none=True)
    age_min = ma.fields.Integer(allow_none=True)
    age_max = ma.fields.Integer(allow_none=True)


class CampaignMessageOutSchema(Schema):
    title = ma.fields.String()
    body = ma.fields.String()


class CampaignSchema(Schema):
    id = ma.fields.String()
    clinic_id = ma.fields.String()
    name = ma.fields.String()
    cohort = ma.fields.Nested(CampaignCohortOutSchema)
    message = ma.fields.Nested(CampaignMessageOutSchema)
    education_item_id = ma.fields.String(allow_none=True)
    send_at = UtcDateTime()
    status = ma.fields.String(metadata={"enum": ["scheduled", "sending", "sent"]})
    cohort_size = ma.fields.Integer(
        metadata={"description": "Patients targeted (opted-out patients are never counted)."}
    )
    created_at = UtcDateTime()


class CohortSizeSchema(Schema):
    cohort_size = ma.fields.Integer()


class CampaignOutcomeSchema(CampaignSchema):
    targeted = ma.fields.Integer()
    delivered = ma.fields.Integer(metadata={"description": "In the patients' inboxes."})
    read = ma.fields.Integer()
    education_completed = ma.fields.Integer(
        metadata={"description": "Targets who completed the campaign's item since it was sent."}
    )
    gap_closed_30d = ma.fields.Integer(
        metadata={
            "description": "Targets with an overdue check-up when targeted (the cohort's "
            "care gap, else any) who completed it within 30 days of the campaign being sent."
        }
    )
    opted_out = ma.fields.Integer(metadata={"description": "Opted out before delivery."})
    pending = ma.fields.Integer(metadata={"description": "Waiting for quiet hours to end."})
