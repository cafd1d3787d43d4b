"""Agreement templates: reusable plans; goals and check-ups get their ids when instantiated."""

import marshmallow as ma
from marshmallow import validate

from api.models.agreement import AgreementTemplate
from api.schemas.agreements import (
    MAX_CHECKUPS,
    MAX_GOALS,
    CheckupSchema,
    ContentSchema,
    GoalSchema,
    Interval,
)
from api.schemas.base import Schema, UtcDateTime
from api.schemas.problem import ProblemSchema
from api.services.care.agreement_content import content_data

TEMPLATE_ID = validate.Regexp(
    r"^[a-z0-9][a-z0-9-]{1,79}$", error="Use 2 to 80 lower-case letters, digits and dashes."
)


class TemplateGoalSchema(GoalSchema):
    """Template goals carry no id: each agreement made from the template gets fresh ones."""

    class Meta(Schema.Meta):
        exclude = ("id",)


class TemplateCheckupSchema(CheckupSchema):
    class Meta(Schema.Meta):
        exclude = ("id",)


class AgreementTemplateSchema(ContentSchema):
    class Meta(Schema.Meta):
        exclude = ("start_on", "review_on")

    id = ma.fields.String(
        validate=TEMPLATE_ID,
        metadata={"description": "Stable id; generated from the name when left out."},
    )
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = ma.fields.String(validate=validate.Length(max=2000), allow_none=True)
    review_after = Interval(
        allow_none=True,
        metadata={"description": "Review this long after the start (sets review_on)."},
    )
    goals = ma.fields.List(
        ma.fields.Nested(TemplateGoalSchema), validate=validate.Length(max=MAX_GOALS)
    )
    checkups = ma.fields.List(
        ma.fields.Nested(TemplateCheckupSchema), validate=validate.Length(max=MAX_CHECKUPS)
    )
    builtin = ma.fields.Boolean(dump_only=True)
    author_id = ma.fields.String(dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True, allow_none=True)

    @ma.pre_dump
    def _flatten(self, template, **kwargs):
        if not isinstance(template, AgreementTemplate):
            return template
        return {
            **content_data(template.content, ids=False),
            "id": template.template_id,
            "name": template.name,
            "description": template.description,
            "review_after": template.review_after,
            "builtin": template.author is None,
            "author_id": template.author,
            "created_at": template.created_at if template.author else None,
        }


class TemplateListArgsSchema(Schema):
    condition = ma.fields.String(validate=validate.Length(min=1, max=80))


class TemplateConflictProblemSchema(ProblemSchema):
    """409: the template id is taken."""

    template_id = ma.fields.String()
