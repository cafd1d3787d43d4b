"""The clinic's population view."""

import marshmallow as ma
from marshmallow import validate

from api.schemas.base import Schema, UtcDateTime
from api.schemas.education import text

FORMATS = ("full", "public", "csv")
_COUNT = {
    "description": 'A count; with `format=public`, any count under 11 is "<11".',
    "oneOf": [{"type": "integer"}, {"type": "string", "enum": ["<11"]}],
}
_FIGURE = {
    "description": 'With `format=public`, "suppressed" when derived from a count under 11.',
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["suppressed"]}],
    "nullable": True,
}


def count():
    return ma.fields.Raw(metadata=_COUNT)


def figure():
    return ma.fields.Raw(allow_none=True, metadata=_FIGURE)


class PopulationQuerySchema(Schema):
    condition = text(80, metadata={"example": "type 2 diabetes"})
    format = ma.fields.String(
        load_default="full",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "`public` suppresses counts under 11; `csv` is text/csv."},
    )


class ConditionCountSchema(Schema):
    condition = ma.fields.String()
    patients = count()


class CareGapSchema(Schema):
    key = ma.fields.String(metadata={"description": "The check-up's key (`cohort.care_gap`)."})
    name = ma.fields.String()
    eligible = count()
    overdue = count()
    share_overdue = figure()


class AdherenceDistributionSchema(Schema):
    patients = count()
    without_data = count()
    q1 = figure()
    median = figure()
    q3 = figure()


class OpenAlertsSchema(Schema):
    info = count()
    warning = count()
    urgent = count()


class CgmFlagsSchema(Schema):
    """Patients with each CGM triage flag (tracking.glucose_flags)."""

    time_very_low = count()
    time_low = count()
    tir_below_70 = count()
    tir_drop = count()
    low_wear = count()


class FiguresSchema(Schema):
    patients = count()
    by_condition = ma.fields.List(ma.fields.Nested(ConditionCountSchema))
    care_gaps = ma.fields.List(ma.fields.Nested(CareGapSchema))
    adherence_30d = ma.fields.Nested(AdherenceDistributionSchema)
    open_alerts = ma.fields.Nested(OpenAlertsSchema)
    cgm_flags = ma.fields.Nested(CgmFlagsSchema)


class EarlierFiguresSchema(FiguresSchema):
    as_of = ma.fields.Date(metadata={"description": "The day of the snapshot (UTC)."})


class PopulationSchema(Schema):
    clinic_id = ma.fields.String()
    clinic_name = ma.fields.String()
    condition = ma.fields.String(allow_none=True)
    as_of = UtcDateTime()
    format = ma.fields.String(metadata={"enum": ["full", "public"]})
    current = ma.fields.Nested(FiguresSchema)
    month_earlier = ma.fields.Nested(EarlierFiguresSchema, allow_none=True)
