"""A patient's medication list, one shared by the whole care team."""

import mongoengine as me

from api.models.base import TimestampedDocument

ROUTES = (
    "oral",
    "inhaled",
    "subcutaneous",
    "intravenous",
    "intramuscular",
    "topical",
    "transdermal",
    "sublingual",
    "rectal",
    "nasal",
    "ophthalmic",
    "other",
)
MEDICATION_STATUSES = ("active", "stopped")


class Actor(me.EmbeddedDocument):
    """Who did something, with their name as it was then, so lists need no join to read."""

    id = me.ObjectIdField(required=True)
    name = me.StringField(required=True, max_length=200)


class DuplicateOverride(me.EmbeddedDocument):
    """A duplicate therapy started on purpose: who confirmed it, why, and over which ones."""

    confirmed_by = me.EmbeddedDocumentField(Actor, required=True)
    confirmed_at = me.DateTimeField(required=True)
    reason = me.StringField(required=True, max_length=1000)
    duplicates = me.ListField(me.ObjectIdField(), max_length=50)


class MedicationChange(me.EmbeddedDocument):
    """The values a dose or frequency change replaced."""

    at = me.DateTimeField(required=True)
    by = me.EmbeddedDocumentField(Actor, required=True)
    dose = me.StringField(max_length=100)
    frequency = me.StringField(max_length=100)


class Medication(TimestampedDocument):
    patient = me.ObjectIdField(required=True)
    name = me.StringField(required=True, max_length=200)
    # From the ATC data file; None (and `unverified`) for a drug the file does not know.
    ingredient = me.StringField(max_length=300)
    atc_code = me.StringField(max_length=7)
    atc_subgroup = me.StringField(max_length=5)
    unverified = me.BooleanField(required=True, default=False)
    # Normalised active ingredients (the drug's name when unverified): the duplicate guard's key.
    ingredient_keys = me.ListField(me.StringField(max_length=300), max_length=10)
    dose = me.StringField(required=True, max_length=100)
    route = me.StringField(required=True, choices=ROUTES)
    frequency = me.StringField(required=True, max_length=100)
    reason = me.StringField(max_length=1000)
    start_on = me.DateField(required=True)
    status = me.StringField(required=True, choices=MEDICATION_STATUSES, default="active")
    prescriber = me.EmbeddedDocumentField(Actor)
    self_reported = me.BooleanField(required=True, default=False)
    reported_by = me.EmbeddedDocumentField(Actor, required=True)
    duplicate_override = me.EmbeddedDocumentField(DuplicateOverride)
    changes = me.EmbeddedDocumentListField(MedicationChange, max_length=500)
    stop_on = me.DateField()
    stop_reason = me.StringField(max_length=1000)
    stopped_by = me.EmbeddedDocumentField(Actor)
    stopped_at = me.DateTimeField()

    meta = {
        "collection": "medications",
        "indexes": [
            # The list (active first, newest start first), its status filter and the guard.
            {"fields": ["patient", "status", "-start_on", "-_id"]},
        ],
    }
