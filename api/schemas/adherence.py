import marshmallow as ma

from api.schemas.base import Schema, UtcDateTime


class AdherenceQuerySchema(Schema):
    from_ = ma.fields.Date(
        data_key="from", metadata={"description": "Default: 29 days before `to`."}
    )
    to = ma.fields.Date(metadata={"description": "Default: the patient's today."})


class PeriodSchema(Schema):
    date = ma.fields.Date(metadata={"description": "The day, or the Monday of the ISO week."})
    key = ma.fields.String(metadata={"example": "2025-W01"})
    met = ma.fields.Boolean()
    value = ma.fields.Float(allow_none=True, metadata={"description": "In the goal's unit."})
    count = ma.fields.Integer(metadata={"description": "Entries logged."})
    in_progress = ma.fields.Boolean(metadata={"description": "Today (or this week)."})


class GoalAdherenceSchema(Schema):
    agreement_id = ma.fields.String()
    goal_id = ma.fields.String()
    title = ma.fields.String()
    measure = ma.fields.String()
    unit = ma.fields.String()
    period = ma.fields.String(metadata={"enum": ["day", "week"]})
    days = ma.fields.Integer(metadata={"description": "Days (or weeks) counted."})
    days_met = ma.fields.Integer()
    percent = ma.fields.Float(allow_none=True)
    current_streak = ma.fields.Integer()
    longest_streak = ma.fields.Integer()
    last_logged_at = UtcDateTime(allow_none=True)
    series = ma.fields.List(ma.fields.Nested(PeriodSchema))


class AdherenceSchema(Schema):
    from_ = ma.fields.Date(data_key="from", attribute="from")
    to = ma.fields.Date()
    today = ma.fields.Date()
    timezone = ma.fields.String()
    goals = ma.fields.List(ma.fields.Nested(GoalAdherenceSchema))
