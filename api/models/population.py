"""A clinic's population, kept as aggregates so the population view never reads per patient.

`PopulationProfile` (one per patient) holds what the patient adds to the aggregates of every
clinic they belong to, and how many of each clinic's providers have them on an active care
team. Every change of either is one atomic swap of this document that returns the previous
state; the difference between the two moves the aggregates by `$inc`. Because the swaps of
one patient are serialised by the database, the increments always add up to the last state.

`PopulationAggregate` (one per clinic and condition, `*` for all patients) is what the view
reads; `PopulationSnapshot` is a nightly copy of it, so "a month earlier" is one read.
Hot paths use pymongo directly; these Documents declare the shape and the indexes.
"""

import mongoengine as me

ALL_CONDITIONS = "*"
BUCKET_WIDTH = 5  # 30-day adherence histogram: [0, 5), [5, 10) ... [95, 100]
BUCKETS = 100 // BUCKET_WIDTH
SEVERITIES = ("info", "warning", "urgent")


class PopulationProfile(me.Document):
    id = me.ObjectIdField(primary_key=True)  # the patient
    # Clinic id → how many of its providers have the patient on an active care team;
    # `in_clinics` lists those with a count above zero (indexed: a clinic's patients).
    clinics = me.MapField(me.IntField())
    in_clinics = me.ListField(me.ObjectIdField())
    # What the patient adds to the aggregates.
    conditions = me.ListField(me.StringField(max_length=80))
    adherence_30d = me.FloatField()
    bucket = me.IntField()
    gaps = me.MapField(me.BooleanField())  # check-up key → overdue
    gap_names = me.MapField(me.StringField(max_length=200))
    alerts = me.MapField(me.IntField())  # open alerts by severity
    # When a gap last closed (overdue → done): campaign outcomes read it.
    closed = me.MapField(me.DateTimeField())
    # Copies of the profile for outreach delivery, kept current by the profile listener.
    name = me.StringField(max_length=200)
    tz = me.StringField(max_length=64)
    quiet_hours = me.DictField()
    opt_out = me.BooleanField()
    birth_date = me.StringField(max_length=10)

    meta = {"collection": "population_profiles", "indexes": ["in_clinics"]}


class GapCount(me.EmbeddedDocument):
    eligible = me.IntField(default=0)
    overdue = me.IntField(default=0)


class _Figures(me.Document):
    meta = {"abstract": True}

    clinic = me.ObjectIdField(required=True)
    condition = me.StringField(required=True, max_length=80)
    patients = me.IntField(default=0)
    no_adherence = me.IntField(default=0)
    hist = me.MapField(me.IntField())  # bucket index → patients
    gaps = me.MapField(me.EmbeddedDocumentField(GapCount))
    gap_names = me.MapField(me.StringField(max_length=200))
    alerts = me.MapField(me.IntField())


class PopulationAggregate(_Figures):
    """`_id` is "<clinic>:<condition>"."""

    id = me.StringField(primary_key=True)

    meta = {"collection": "population_aggregates", "indexes": ["clinic"]}


class PopulationSnapshot(_Figures):
    """`_id` is "<clinic>:<condition>:<YYYY-MM-DD>" (UTC day it was taken)."""

    id = me.StringField(primary_key=True)
    day = me.StringField(required=True, max_length=10)

    meta = {
        "collection": "population_snapshots",
        "indexes": [("clinic", "condition", "-day"), ("clinic", "day")],
    }
