import marshmallow as ma
from marshmallow import validate

from api.models.medication import MEDICATION_STATUSES, ROUTES
from api.schemas.base import Schema, UtcDateTime
from api.schemas.problem import ProblemSchema
from api.services.care.atc import ATC_CODE

MEDICATION_EXAMPLE = {
    "name": "Glucophage",
    "atc_code": "A10BA02",
    "dose": "500 mg",
    "route": "oral",
    "frequency": "twice daily with meals",
    "start_on": "2024-03-01",
    "reason": "type 2 diabetes",
}


def _text(max_length: int, **kwargs):
    """A string that must say something (not only spaces), stored trimmed."""
    return ma.fields.String(
        validate=[
            validate.Length(max=max_length),
            validate.Regexp(r"\s*\S", error="Must not be blank."),
        ],
        **kwargs,
    )


class MedicationCreateSchema(Schema):
    name = _text(200, required=True, metadata={"description": "Generic or brand name."})
    atc_code = ma.fields.String(
        validate=validate.Regexp(ATC_CODE, error="Must be an ATC level-5 code such as A10BA02."),
        metadata={"description": "ATC level-5 code (7 characters)."},
    )
    dose = _text(100, required=True, metadata={"example": "500 mg"})
    route = ma.fields.String(required=True, validate=validate.OneOf(ROUTES))
    frequency = _text(100, required=True, metadata={"example": "twice daily"})
    start_on = ma.fields.Date(required=True)
    reason = _text(
        1000,
        metadata={"description": "Why it is taken; with `confirm_duplicate`, why both are."},
    )
    confirm_duplicate = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Start it although an active medication duplicates it."},
    )

    @ma.post_load
    def _trim(self, data, **kwargs):
        for name in ("name", "dose", "frequency", "reason"):
            if name in data:
                data[name] = data[name].strip()
        return data

    @ma.validates_schema
    def _override_needs_reason(self, data, **kwargs):
        if data.get("confirm_duplicate") and not (data.get("reason") or "").strip():
            raise ma.ValidationError(
                "A reason is required to confirm a duplicate therapy.", "reason"
            )


class MedicationPatchSchema(Schema):
    dose = _text(100)
    frequency = _text(100)
    stop_on = ma.fields.Date(metadata={"description": "Stop it: not before `start_on`."})
    stop_reason = _text(1000)

    @ma.post_load
    def _trim(self, data, **kwargs):
        for name in ("dose", "frequency", "stop_reason"):
            if name in data:
                data[name] = data[name].strip()
        return data

    @ma.validates_schema
    def _something_to_change(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send dose, frequency, or stop_on to stop it.")
        if "stop_reason" in data and "stop_on" not in data:
            raise ma.ValidationError("A stop reason goes with a stop_on date.", "stop_on")


class MedicationQuerySchema(Schema):
    status = ma.fields.String(validate=validate.OneOf(MEDICATION_STATUSES))


class ActorSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()


class DuplicateOverrideSchema(Schema):
    confirmed_by = ma.fields.Nested(ActorSchema)
    confirmed_at = UtcDateTime()
    reason = ma.fields.String()
    duplicates = ma.fields.List(ma.fields.String(), metadata={"description": "Medication ids."})


class MedicationChangeSchema(Schema):
    at = UtcDateTime()
    by = ma.fields.Nested(ActorSchema)
    dose = ma.fields.String(allow_none=True, metadata={"description": "The dose before."})
    frequency = ma.fields.String(allow_none=True, metadata={"description": "Before."})


class MedicationSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    ingredient = ma.fields.String(allow_none=True)
    atc_code = ma.fields.String(allow_none=True)
    unverified = ma.fields.Boolean(
        metadata={"description": "Not in the ATC data file: checked for duplicates by name."}
    )
    dose = ma.fields.String()
    route = ma.fields.String(metadata={"enum": list(ROUTES)})
    frequency = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    start_on = ma.fields.Date()
    status = ma.fields.String(metadata={"enum": list(MEDICATION_STATUSES)})
    prescriber = ma.fields.Nested(ActorSchema, allow_none=True)
    self_reported = ma.fields.Boolean()
    reported_by = ma.fields.Nested(ActorSchema)
    duplicate_override = ma.fields.Nested(DuplicateOverrideSchema, allow_none=True)
    changes = ma.fields.List(ma.fields.Nested(MedicationChangeSchema))
    stop_on = ma.fields.Date(allow_none=True)
    stop_reason = ma.fields.String(allow_none=True)
    stopped_by = ma.fields.Nested(ActorSchema, allow_none=True)
    stopped_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class DuplicateSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    ingredient = ma.fields.String(allow_none=True)
    atc_code = ma.fields.String(allow_none=True)
    route = ma.fields.String()
    dose = ma.fields.String()
    since = ma.fields.Date(metadata={"description": "Its start date."})
    prescriber = ma.fields.Nested(ActorSchema, allow_none=True)
    self_reported = ma.fields.Boolean()
    reported_by = ma.fields.Nested(ActorSchema)
    match = ma.fields.String(metadata={"enum": ["same_ingredient", "same_subgroup_and_route"]})


class DuplicateTherapyProblemSchema(ProblemSchema):
    """409 from the duplicate therapy guard: the active medications the new one duplicates."""

    duplicates = ma.fields.List(ma.fields.Nested(DuplicateSchema))
