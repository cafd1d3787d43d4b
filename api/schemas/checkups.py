import marshmallow as ma
from marshmallow import validate

from api.schemas.base import Schema, UtcDateTime
from api.schemas.problem import ProblemSchema

CHECKUP_STATUSES = ("upcoming", "due", "overdue")


class CheckupStatusSchema(Schema):
    id = ma.fields.String(metadata={"description": "The check-up's id in its agreement."})
    agreement_id = ma.fields.String()
    name = ma.fields.String()
    code = ma.fields.String(allow_none=True)
    interval = ma.fields.String(metadata={"example": "P3M"})
    remind_days_before = ma.fields.List(ma.fields.Integer())
    next_due_on = ma.fields.Date(
        metadata={
            "description": "One interval after the last completion of the same test "
            "(same code, else name), else after the agreement's start."
        }
    )
    status = ma.fields.String(
        metadata={
            "enum": list(CHECKUP_STATUSES),
            "description": "In the patient's local date: `overdue` past `next_due_on`, `due` "
            "within the reminder lead (largest `remind_days_before`, else 14 days).",
        }
    )
    last_done_on = ma.fields.Date(allow_none=True)
    last_completion_id = ma.fields.String(allow_none=True)


class CompletionCreateSchema(Schema):
    done_on = ma.fields.Date(required=True, metadata={"description": "Not in the future."})
    result = ma.fields.String(validate=validate.Length(max=500))
    note = ma.fields.String(validate=validate.Length(max=2000))
    confirm_duplicate = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "Record it even though the same test was done within half its interval."
        },
    )
    reason = ma.fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "Why a confirmed duplicate is repeated."},
    )


class RecorderSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    role = ma.fields.String(allow_none=True)
    specialty = ma.fields.String(allow_none=True)


class CompletionSchema(Schema):
    id = ma.fields.String()
    checkup_id = ma.fields.String()
    agreement_id = ma.fields.String()
    name = ma.fields.String()
    code = ma.fields.String(allow_none=True)
    done_on = ma.fields.Date()
    result = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    self_reported = ma.fields.Boolean(
        metadata={"description": "Reported by the patient or a caregiver, not a provider."}
    )
    confirmed_duplicate = ma.fields.Boolean()
    duplicate_of = ma.fields.String(allow_none=True)
    duplicate_reason = ma.fields.String(allow_none=True)
    recorded_by = ma.fields.Nested(RecorderSchema)
    created_at = UtcDateTime()


class DuplicateTestProblemSchema(ProblemSchema):
    """409 from the duplicate-test guard: the earlier completion, with who recorded it."""

    earlier = ma.fields.Nested(CompletionSchema)
