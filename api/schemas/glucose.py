"""Uploader credentials and the CGM metrics."""

import marshmallow as ma
from marshmallow import validate

from api.schemas.base import Schema, UtcDateTime


class UploaderCreateSchema(Schema):
    name = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"example": "xDrip+ on my phone"},
    )


class UploaderSchema(Schema):
    id = ma.fields.String(dump_only=True)
    name = ma.fields.String()
    created_at = UtcDateTime()
    last_seen_at = UtcDateTime(allow_none=True)
    last_reading_at = UtcDateTime(allow_none=True)
    battery = ma.fields.Integer(allow_none=True, metadata={"description": "Percent."})
    battery_at = UtcDateTime(allow_none=True)
    device = ma.fields.String(allow_none=True)


class UploaderCreatedSchema(UploaderSchema):
    secret = ma.fields.String(
        metadata={"description": "Shown only here: type it into the uploader as its secret."}
    )
    api_secret_sha1 = ma.fields.String(
        metadata={"description": "SHA-1 hex of the secret: the `api-secret` header's value."}
    )
    base_url = ma.fields.String(metadata={"description": "The Nightscout URL to type in."})


class GlucoseQuerySchema(Schema):
    days = ma.fields.Integer(
        load_default=14,
        validate=validate.Range(min=1, max=90),
        metadata={"description": "Local days, today included (1-90)."},
    )


class TimeInRangesSchema(Schema):
    very_low = ma.fields.Float(allow_none=True, metadata={"description": "< 54 mg/dL, %"})
    low = ma.fields.Float(allow_none=True, metadata={"description": "54 to < 70 mg/dL, %"})
    in_range = ma.fields.Float(allow_none=True, metadata={"description": "70-180 mg/dL, %"})
    high = ma.fields.Float(allow_none=True, metadata={"description": "> 180-250 mg/dL, %"})
    very_high = ma.fields.Float(allow_none=True, metadata={"description": "> 250 mg/dL, %"})


class AgpHourSchema(Schema):
    hour = ma.fields.Integer(metadata={"description": "Local hour of day, 0-23."})
    readings = ma.fields.Integer()
    p5 = ma.fields.Float()
    p25 = ma.fields.Float()
    p50 = ma.fields.Float()
    p75 = ma.fields.Float()
    p95 = ma.fields.Float()


class GlucoseMetricsSchema(Schema):
    from_ = ma.fields.Date(data_key="from", attribute="from")
    to = ma.fields.Date()
    timezone = ma.fields.String()
    unit = ma.fields.String(metadata={"description": "mg/dL or mmol/L (the patient's)."})
    readings = ma.fields.Integer()
    wear_percent = ma.fields.Float()
    sufficient = ma.fields.Boolean(metadata={"description": "Wear at least 70 %."})
    mean = ma.fields.Float(allow_none=True)
    sd = ma.fields.Float(allow_none=True)
    cv_percent = ma.fields.Float(allow_none=True)
    gmi_percent = ma.fields.Float(allow_none=True)
    time_in_ranges = ma.fields.Nested(TimeInRangesSchema)
    agp = ma.fields.List(ma.fields.Nested(AgpHourSchema))
