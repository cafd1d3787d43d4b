import marshmallow as ma
from marshmallow import validate

from api.models.panel import FLAGS, SORTS
from api.schemas.base import Schema, UtcDateTime


class PanelQuerySchema(Schema):
    flag = ma.fields.String(
        validate=validate.OneOf(FLAGS), metadata={"description": "Only patients with this flag."}
    )
    sort = ma.fields.String(
        load_default="adherence_7d",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "Patients without an adherence figure come last in ascending "
            "order; `last_log` sorts by the local day of the last log, never-logged first."
        },
    )
    order = ma.fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))


class PanelPatientSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class PanelCheckupSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    due_on = ma.fields.Date()


class ReviewerSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class ReviewedSchema(Schema):
    reviewed_at = UtcDateTime()
    reviewed_by = ma.fields.Nested(ReviewerSchema)


class PanelEntrySchema(Schema):
    patient = ma.fields.Nested(PanelPatientSchema)
    adherence_7d = ma.fields.Float(allow_none=True, metadata={"description": "Percent."})
    adherence_30d = ma.fields.Float(allow_none=True, metadata={"description": "Percent."})
    last_logged_at = UtcDateTime(allow_none=True)
    next_checkup = ma.fields.Nested(PanelCheckupSchema, allow_none=True)
    next_checkup_due_on = ma.fields.Date(allow_none=True)
    overdue_checkups = ma.fields.List(ma.fields.Nested(PanelCheckupSchema))
    flags = ma.fields.List(ma.fields.String(metadata={"enum": list(FLAGS)}))
    open_alerts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "Open alerts by severity (info, warning, urgent)."},
    )
    last_reviewed = ma.fields.Nested(
        ReviewedSchema,
        allow_none=True,
        metadata={"description": "When a provider last marked the patient reviewed, and who."},
    )
    unread_messages = ma.fields.Integer(
        metadata={"description": "Messages in the patient's thread you have not read."}
    )
