"""Continuous glucose monitoring: uploaders, readings in hour buckets, and day aggregates.

A year of CGM is about 105,000 readings. They are not log entries: one document per patient
and UTC hour (`GlucoseBucket`) holds that hour's readings keyed by their millisecond offset in
the hour, so a re-posted reading lands on its own key (stored once) and a year is 8,760
documents. `GlucoseDay` holds, per patient-local day, the histogram the metrics are read from,
moved as readings arrive, so the metrics never read the readings.

The hot paths write these collections with pymongo directly; the Documents declare the shape
and the indexes every query path uses.
"""

import mongoengine as me


class Uploader(me.Document):
    """A Nightscout uploader (xDrip+, Loop, Spike) of one patient.

    Only `key_hash` is kept of the secret: SHA-256 of the secret's SHA-1 hex, which is what
    Nightscout clients send (`api-secret`), so neither the secret nor what opens the API is
    stored. `tz` mirrors the patient's zone so an upload reads nothing but this document.
    """

    patient = me.ObjectIdField(required=True)
    name = me.StringField(required=True, max_length=100)
    key_hash = me.StringField(required=True, max_length=64)
    tz = me.StringField(max_length=64)
    created_at = me.DateTimeField(required=True)
    created_by = me.ObjectIdField()
    revoked_at = me.DateTimeField()
    last_seen_at = me.DateTimeField()
    last_reading_at = me.DateTimeField()
    battery = me.IntField()
    battery_at = me.DateTimeField()
    device = me.StringField(max_length=100)
    # When the patient's CGM flags were last recomputed (tracking.glucose_flags).
    flags_at = me.DateTimeField()
    # The patient's sensor glucose alert rules as an upload judges readings against them
    # (`summary.mirror_rules` keeps them current): no rule read when no rule can move.
    alert_rules = me.ListField(me.DictField())

    meta = {
        "collection": "glucose_uploaders",
        "indexes": [
            {"fields": ["key_hash"], "unique": True, "name": "one_uploader_per_key"},
            ("patient", "created_at"),
        ],
    }


class GlucoseBucket(me.Document):
    """One patient's readings of one UTC hour. `_id` is "<patient>:<hour as epoch seconds>".

    `s` (sensor glucose), `m` (meter glucose) and `c` (calibrations) map the reading's
    millisecond offset in the hour to its value (see services.tracking.glucose for the
    packing); `dev` is the device that sent the hour's latest readings.
    """

    id = me.StringField(primary_key=True)
    patient = me.ObjectIdField(required=True)
    hour = me.DateTimeField(required=True)
    s = me.DictField()
    m = me.DictField()
    c = me.DictField()
    dev = me.StringField(max_length=100)

    meta = {"collection": "glucose_buckets", "indexes": [("patient", "-hour")]}


class GlucoseDay(me.Document):
    """One patient-local day of sensor readings, `_id` "<patient>:<YYYY-MM-DD>".

    `n` counts the day's readings and `w` its five-minute slots with at least one (wear, so a
    one-minute sensor does not count five times); `h` maps the local hour ("00".."23") to a
    histogram of values in tenths of mg/dL → count, from which every metric (mean, SD,
    ranges, the AGP percentiles) is read exactly. `monitored` is set once `w` reached 70 % of
    the day's slots.
    """

    id = me.StringField(primary_key=True)
    patient = me.ObjectIdField(required=True)
    day = me.StringField(required=True, max_length=10)
    tz = me.StringField(max_length=64)
    n = me.IntField(default=0)
    w = me.IntField(default=0)
    h = me.DictField()
    monitored = me.BooleanField()

    meta = {"collection": "glucose_days", "indexes": [("patient", "day")]}


class Treatment(me.Document):
    """A Nightscout treatment (carbs, insulin, notes). `_id` is derived from the patient and
    the uploader's sync identifier (or event type and time), so a re-post is stored once."""

    id = me.StringField(primary_key=True)
    patient = me.ObjectIdField(required=True)
    event_type = me.StringField(max_length=80)
    created_at = me.DateTimeField(required=True)
    carbs = me.FloatField()
    insulin = me.FloatField()
    notes = me.StringField(max_length=1000)
    entered_by = me.StringField(max_length=100)

    meta = {"collection": "glucose_treatments", "indexes": [("patient", "-created_at")]}
