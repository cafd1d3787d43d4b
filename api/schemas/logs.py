import marshmallow as ma
from marshmallow import validate

from api.models.log import SOURCES
from api.schemas.base import Schema, UtcDateTime
from api.services.tracking.logs import MAX_BATCH

VALUE_RANGE = validate.Range(min=-1e9, max=1e9)


class LogEntryCreateSchema(Schema):
    id = ma.fields.UUID(metadata={"description": "Client-chosen UUID; a replay returns the entry."})
    agreement_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    goal_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=40))
    occurred_at = UtcDateTime(required=True)
    value = ma.fields.Float(required=True, validate=VALUE_RANGE)
    unit = ma.fields.String(validate=validate.Length(min=1, max=20))
    note = ma.fields.String(allow_none=True, validate=validate.Length(max=1000))
    source = ma.fields.String(
        validate=validate.OneOf(("app", "device")),
        metadata={"description": "`provider` is set by the server when a provider logs."},
    )


class LogEntryPatchSchema(Schema):
    occurred_at = UtcDateTime()
    value = ma.fields.Float(validate=VALUE_RANGE)
    unit = ma.fields.String(validate=validate.Length(min=1, max=20))
    note = ma.fields.String(allow_none=True, validate=validate.Length(max=1000))

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send at least one of occurred_at, value, unit, note.")


class LogBatchSchema(Schema):
    # Items are validated one by one (a bad item never sinks the good ones).
    entries = ma.fields.List(
        ma.fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": f"Up to {MAX_BATCH} entries, each with its own `id`."},
    )


class LogRevisionSchema(Schema):
    change = ma.fields.String(metadata={"enum": ["edit", "delete"]})
    changed_at = UtcDateTime()
    changed_by = ma.fields.String(allow_none=True)
    occurred_at = UtcDateTime()
    canonical_value = ma.fields.Float(attribute="value")
    entered_value = ma.fields.Float()
    entered_unit = ma.fields.String()
    note = ma.fields.String(allow_none=True)


class LogEntrySchema(Schema):
    id = ma.fields.String()
    agreement_id = ma.fields.String()
    goal_id = ma.fields.String()
    measure = ma.fields.String()
    occurred_at = UtcDateTime()
    local_date = ma.fields.String(metadata={"description": "The patient's local day (then)."})
    value = ma.fields.Float(metadata={"description": "In `unit`: the patient's preference."})
    unit = ma.fields.String()
    entered_value = ma.fields.Float(metadata={"description": "What the patient typed."})
    entered_unit = ma.fields.String()
    canonical_value = ma.fields.Float()
    canonical_unit = ma.fields.String()
    in_target = ma.fields.Boolean(allow_none=True)
    note = ma.fields.String(allow_none=True)
    source = ma.fields.String(metadata={"enum": list(SOURCES)})
    recorded_by = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    deleted = ma.fields.Boolean()
    deleted_at = UtcDateTime(allow_none=True)
    history = ma.fields.List(ma.fields.Nested(LogRevisionSchema))


class LogQuerySchema(Schema):
    goal_id = ma.fields.String(validate=validate.Length(min=1, max=40))
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()
    since = ma.fields.String(
        validate=validate.Regexp(r"^\d{1,18}$", error="Must be a cursor from a previous sync."),
        metadata={"description": "A sync cursor (`0` for everything): returns changes instead."},
    )
    limit = ma.fields.Integer(
        load_default=200,
        validate=validate.Range(min=1, max=MAX_BATCH),
        metadata={"description": "With `since`: the most changes to return."},
    )


class LogChangesSchema(Schema):
    changes = ma.fields.List(ma.fields.Nested(LogEntrySchema))
    next_cursor = ma.fields.String()
    has_more = ma.fields.Boolean()


class BatchResultSchema(Schema):
    index = ma.fields.Integer()
    id = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"enum": ["created", "duplicate", "error"]})
    entry = ma.fields.Nested(LogEntrySchema)
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class BatchResponseSchema(Schema):
    created = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    errors = ma.fields.Integer()
    results = ma.fields.List(ma.fields.Nested(BatchResultSchema))
