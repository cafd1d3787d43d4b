"""Care agreements: the plan's shape on the wire, with every string and list bounded."""

import marshmallow as ma
from marshmallow import validate

from api.models.agreement import GOAL_KINDS, PERIODS, STATUSES, TARGET_OPS, Agreement
from api.schemas.base import LocalTime, Schema, UtcDateTime
from api.schemas.problem import ProblemSchema
from api.services.care.agreement_content import content_data, goal_problems, interval_problems
from api.services.common.intervals import check_interval

MAX_GOALS = 50
MAX_CHECKUPS = 50
MAX_EDUCATION = 50
MAX_CONDITIONS = 20
MAX_REMINDER_TIMES = 12
MAX_REMINDER_DAYS = 10
ITEM_ID = validate.Length(min=1, max=40)


def _text(max_length: int, **kwargs):
    return ma.fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def _number(**kwargs):
    return ma.fields.Float(allow_nan=False, **kwargs)


class Interval(ma.fields.String):
    """An ISO 8601 duration (`P3M`), parsed and bounded on input; kept as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            check_interval(value)
        except ValueError as error:
            raise ma.ValidationError(str(error)) from None
        return value


class TargetSchema(Schema):
    op = ma.fields.String(required=True, validate=validate.OneOf(TARGET_OPS))
    value = _number(metadata={"description": "For at_least and at_most."})
    low = _number(metadata={"description": "For between."})
    high = _number(metadata={"description": "For between."})

    @ma.validates_schema
    def _numbers_fit_the_op(self, data, **kwargs):
        needed = ("low", "high") if data["op"] == "between" else ("value",)
        errors = {
            name: [f"Required with op {data['op']}."] for name in needed if data.get(name) is None
        }
        errors.update(
            {
                name: [f"Not used with op {data['op']}."]
                for name in ("value", "low", "high")
                if name not in needed and data.get(name) is not None
            }
        )
        if not errors and data["op"] == "between" and data["low"] > data["high"]:
            errors["low"] = ["Must not be greater than high."]
        if errors:
            raise ma.ValidationError(errors)


class GoalSchema(Schema):
    id = ma.fields.String(
        validate=ITEM_ID,
        metadata={"description": "Stable id; send it back to keep a goal, leave it out for new."},
    )
    kind = ma.fields.String(required=True, validate=validate.OneOf(GOAL_KINDS))
    title = _text(200, required=True)
    measure = _text(40, required=True, metadata={"example": "exercise_minutes"})
    unit = _text(20, required=True, metadata={"example": "min"})
    target = ma.fields.Nested(TargetSchema, required=True)
    period = ma.fields.String(validate=validate.OneOf(PERIODS), load_default="day")
    reminder_times = ma.fields.List(
        LocalTime(), validate=validate.Length(max=MAX_REMINDER_TIMES), load_default=list
    )

    @ma.validates_schema
    def _fits_the_measure(self, data, **kwargs):
        problems = goal_problems(data)
        if len(set(data["reminder_times"])) != len(data["reminder_times"]):
            problems["reminder_times"] = ["Each time may appear once."]
        if problems:
            raise ma.ValidationError(problems)


class CheckupSchema(Schema):
    id = ma.fields.String(validate=ITEM_ID)
    name = _text(200, required=True, metadata={"example": "HbA1c"})
    code = _text(40, allow_none=True, metadata={"example": "4548-4"})
    interval = Interval(required=True, metadata={"example": "P3M"})
    remind_days_before = ma.fields.List(
        ma.fields.Integer(strict=True, validate=validate.Range(min=0, max=365)),
        validate=validate.Length(max=MAX_REMINDER_DAYS),
        load_default=list,
    )

    @ma.validates_schema
    def _reminders_inside_interval(self, data, **kwargs):
        problems = interval_problems(data)
        if problems:
            raise ma.ValidationError(problems)


class EducationRefSchema(Schema):
    title = _text(200, required=True)
    url = ma.fields.Url(
        schemes={"https"},
        validate=validate.Length(max=2000),
        allow_none=True,
        error_messages={"invalid": "Must be an https URL."},
    )
    item_id = ma.fields.String(validate=ITEM_ID, allow_none=True)

    @ma.validates_schema
    def _points_somewhere(self, data, **kwargs):
        if not data.get("url") and not data.get("item_id"):
            raise ma.ValidationError({"url": ["Give an https URL (or an education item_id)."]})


class ContentSchema(Schema):
    """The plan itself: what a draft holds, what a revision proposes, what a version keeps."""

    title = _text(200, required=True, metadata={"example": "Type 2 diabetes plan"})
    conditions = ma.fields.List(
        _text(80), validate=validate.Length(max=MAX_CONDITIONS), metadata={"example": ["asthma"]}
    )
    goals = ma.fields.List(ma.fields.Nested(GoalSchema), validate=validate.Length(max=MAX_GOALS))
    checkups = ma.fields.List(
        ma.fields.Nested(CheckupSchema), validate=validate.Length(max=MAX_CHECKUPS)
    )
    education = ma.fields.List(
        ma.fields.Nested(EducationRefSchema), validate=validate.Length(max=MAX_EDUCATION)
    )
    start_on = ma.fields.Date(allow_none=True)
    review_on = ma.fields.Date(allow_none=True)


class AgreementPatchSchema(ContentSchema):
    """Fields sent replace the stored ones (lists as a whole); goals sent with their id keep it."""

    title = _text(200)

    @ma.validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send at least one field to change.")


class AgreementCreateSchema(AgreementPatchSchema):
    """A draft from scratch, or from `template_id` with any field sent overriding the template."""

    template_id = ma.fields.String(validate=validate.Length(min=1, max=80))

    @ma.validates_schema
    def _has_a_title(self, data, **kwargs):
        if "template_id" not in data and "title" not in data:
            raise ma.ValidationError({"title": ["Required unless template_id is given."]})


class RevisionSchema(ContentSchema):
    proposed_by = ma.fields.String()
    proposed_at = UtcDateTime()


class AgreementSchema(ContentSchema):
    """The plan in force (or being prepared) at the top level; a pending edit in `revision`."""

    id = ma.fields.String()
    patient_id = ma.fields.String()
    author_id = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    version = ma.fields.Integer(metadata={"description": "Bumped by every change (the ETag)."})
    template_id = ma.fields.String(allow_none=True)
    revision = ma.fields.Nested(
        RevisionSchema,
        allow_none=True,
        metadata={"description": "An edit of the active plan awaiting the patient's acceptance."},
    )
    accepted_version = ma.fields.Integer(allow_none=True)
    active_since = UtcDateTime(allow_none=True)
    proposed_by = ma.fields.String(allow_none=True)
    proposed_at = UtcDateTime(allow_none=True)
    accepted_by = ma.fields.String(allow_none=True)
    on_behalf_of = ma.fields.String(allow_none=True)
    accepted_at = UtcDateTime(allow_none=True)
    ended_by = ma.fields.String(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)
    replaced_by = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    @ma.pre_dump
    def _flatten(self, agreement, **kwargs):
        if not isinstance(agreement, Agreement):
            return agreement
        shaped = {
            **content_data(agreement.content),
            "id": agreement.pk,
            "patient_id": agreement.patient,
            "author_id": agreement.author,
            "revision": None,
        }
        if agreement.revision is not None:
            shaped["revision"] = {
                **content_data(agreement.revision),
                "proposed_by": agreement.revision_proposed_by,
                "proposed_at": agreement.revision_proposed_at,
            }
        for name in self.fields:
            shaped.setdefault(name, getattr(agreement, name, None))
        return shaped


class TransitionResultSchema(AgreementSchema):
    completed_agreements = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "Other active agreements sharing a condition, now completed."},
    )

    @ma.pre_dump
    def _flatten(self, outcome, **kwargs):
        """`outcome` is an `agreements.Outcome`: the agreement and what its change completed."""
        shaped = super()._flatten(outcome.agreement)
        return {**shaped, "completed_agreements": outcome.completed_agreements}


class AgreementVersionSchema(ContentSchema):
    id = ma.fields.String()
    agreement_id = ma.fields.String()
    number = ma.fields.Integer()
    proposed_by = ma.fields.String(allow_none=True)
    accepted_by = ma.fields.String()
    on_behalf_of = ma.fields.String(allow_none=True)
    accepted_at = UtcDateTime()

    @ma.pre_dump
    def _flatten(self, version, **kwargs):
        return {
            **content_data(version.content),
            "id": version.pk,
            "agreement_id": version.agreement,
            "number": version.number,
            "proposed_by": version.proposed_by,
            "accepted_by": version.accepted_by,
            "on_behalf_of": version.on_behalf_of,
            "accepted_at": version.accepted_at,
        }


class AgreementListArgsSchema(Schema):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))


class StatusConflictProblemSchema(ProblemSchema):
    """409: not possible in the agreement's current status."""

    current_status = ma.fields.String(metadata={"enum": list(STATUSES)})
    allowed_actions = ma.fields.List(
        ma.fields.String(), metadata={"description": "What may be done in this status."}
    )


class StaleVersionProblemSchema(ProblemSchema):
    """412: the agreement changed since the ETag in If-Match was read."""

    current_version = ma.fields.Integer()
