import marshmallow as ma
from marshmallow import validate

from api.models.alert import ALERT_STATUSES, NOTIFY, RULE_KINDS, RULE_OPS, SEVERITIES
from api.schemas.base import Schema, UtcDateTime
from api.services.tracking.measures import MEASURES

RULE_EXAMPLE = {
    "measure": "blood_glucose",
    "kind": "threshold",
    "op": "above",
    "value": 300,
    "unit": "mg/dL",
    "count": 2,
    "within": "P3D",
    "severity": "warning",
    "notify": ["primary", "patient"],
    "advice": "Drink water, check for ketones and call the practice today.",
}


def _number(**kwargs):
    return ma.fields.Float(allow_nan=False, validate=validate.Range(min=0, max=1e6), **kwargs)


class _RuleFields(Schema):
    """What a provider may set; `measure` and `kind` are fixed once a rule exists."""

    op = ma.fields.String(validate=validate.OneOf(RULE_OPS), allow_none=True)
    value = _number(allow_none=True, metadata={"description": "Threshold, in `unit`."})
    unit = ma.fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "Defaults to the measure's canonical unit."},
    )
    count = ma.fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "How many readings out of range within `within` open it."},
    )
    within = ma.fields.String(
        validate=validate.Length(max=20),
        allow_none=True,
        metadata={"description": "ISO 8601 duration in the patient's calendar, e.g. P3D."},
    )
    severity = ma.fields.String(validate=validate.OneOf(SEVERITIES))
    notify = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(NOTIFY)),
        validate=validate.Length(min=1, max=len(NOTIFY)),
    )
    advice = ma.fields.String(validate=validate.Length(max=500), allow_none=True)
    personal_best = _number(
        allow_none=True, metadata={"description": "Zone rules: the patient's best, in `unit`."}
    )
    yellow_below = ma.fields.Float(
        allow_nan=False, validate=validate.Range(min=1, max=100), allow_none=True
    )
    red_below = ma.fields.Float(
        allow_nan=False, validate=validate.Range(min=1, max=100), allow_none=True
    )


class AlertRuleCreateSchema(_RuleFields):
    measure = ma.fields.String(required=True, validate=validate.OneOf(list(MEASURES)))
    kind = ma.fields.String(required=True, validate=validate.OneOf(RULE_KINDS))


class AlertRulePatchSchema(_RuleFields):
    pass


class AlertRuleSchema(Schema):
    id = ma.fields.String(attribute="public_id")
    measure = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": list(RULE_KINDS)})
    op = ma.fields.String(allow_none=True, metadata={"enum": list(RULE_OPS)})
    value = ma.fields.Float(allow_none=True)
    unit = ma.fields.String()
    count = ma.fields.Integer()
    within = ma.fields.String(allow_none=True)
    severity = ma.fields.String(metadata={"enum": list(SEVERITIES)})
    notify = ma.fields.List(ma.fields.String())
    advice = ma.fields.String(allow_none=True)
    personal_best = ma.fields.Float(allow_none=True)
    yellow_below = ma.fields.Float(allow_none=True)
    red_below = ma.fields.Float(allow_none=True)
    enabled = ma.fields.Boolean(
        metadata={"description": "False for a template's zone rule without a personal best."}
    )
    origin = ma.fields.String(allow_none=True)
    created_by = ma.fields.String(allow_none=True)
    open_alert_id = ma.fields.String(attribute="open_alert", allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AlertQuerySchema(Schema):
    status = ma.fields.String(validate=validate.OneOf(ALERT_STATUSES))


class AcknowledgeSchema(Schema):
    note = ma.fields.String(validate=validate.Length(max=1000))


class AlertReadingSchema(Schema):
    id = ma.fields.String()
    value = ma.fields.Float()
    unit = ma.fields.String()
    occurred_at = UtcDateTime()


class AlertPatientSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class AlertSchema(Schema):
    id = ma.fields.String()
    rule_id = ma.fields.String()
    patient = ma.fields.Nested(AlertPatientSchema)
    measure = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": list(RULE_KINDS)})
    severity = ma.fields.String(metadata={"enum": list(SEVERITIES)})
    level = ma.fields.String(allow_none=True, metadata={"enum": ["yellow", "red"]})
    status = ma.fields.String(metadata={"enum": list(ALERT_STATUSES)})
    opened_at = UtcDateTime()
    readings = ma.fields.List(ma.fields.Nested(AlertReadingSchema))
    advice = ma.fields.String(allow_none=True)
    acknowledged_by = ma.fields.String(allow_none=True)
    acknowledged_at = UtcDateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)
    resolved_at = UtcDateTime(allow_none=True)
    resolution = ma.fields.String(
        allow_none=True,
        metadata={"description": "back_in_range, data_arrived, rule_changed or rule_removed."},
    )
