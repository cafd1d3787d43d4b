"""The education library and each patient's progress through the items assigned to them."""

import mongoengine as me

from api.models.base import TimestampedDocument

AUDIENCES = ("patient", "provider")
PROGRESS_STATUSES = ("new", "viewed", "completed")
ITEM_ID_MAX = 40  # EducationRef.item_id in agreements holds at most this many characters


class EducationItem(TimestampedDocument):
    """A library item: an https link to public information, or a Markdown body of our own.

    Starter items have stable slug ids (`t2d-what-is-type-2-diabetes`); published ones get
    generated ids. `body_html` is rendered once when the body is written, so reads never
    render. `keywords` holds the normalised words of title and summary and their prefixes,
    so `?q=` is an indexed lookup rather than a regular-expression scan.
    """

    id = me.StringField(primary_key=True, max_length=ITEM_ID_MAX)
    title = me.StringField(required=True, max_length=200)
    summary = me.StringField(required=True, max_length=1000)
    url = me.StringField(max_length=2000)
    body = me.StringField(max_length=20000)
    body_html = me.StringField()
    # Lower-cased, as agreements name them ("type 2 diabetes").
    conditions = me.ListField(me.StringField(max_length=80), default=list)
    audience = me.StringField(required=True, choices=AUDIENCES)
    reading_minutes = me.IntField(required=True, min_value=1, max_value=240)
    author = me.ObjectIdField()
    author_name = me.StringField(required=True, max_length=200)
    keywords = me.ListField(me.StringField(max_length=80), default=list)

    meta = {
        "collection": "education_items",
        "indexes": [
            ("audience", "title"),
            ("conditions", "audience", "title"),
            ("keywords", "audience"),
            "title",
        ],
    }


class EducationProgress(TimestampedDocument):
    """One per (patient, item): when the item was first seen assigned, and how far they got.

    `assigned_at` is written once, the first time the item is seen in one of the patient's
    active agreements (see `services.education.sync_assignments`). Status only moves forward.
    """

    patient = me.ObjectIdField(required=True)
    item = me.StringField(required=True, max_length=ITEM_ID_MAX)
    status = me.StringField(required=True, choices=PROGRESS_STATUSES, default="new")
    assigned_at = me.DateTimeField(required=True)
    viewed_at = me.DateTimeField()
    completed_at = me.DateTimeField()
    # Who last recorded progress: the patient, or a caregiver acting for them.
    recorded_by = me.ObjectIdField()

    meta = {
        "collection": "education_progress",
        "indexes": [
            {"fields": ["patient", "item"], "unique": True},
            ("status", "assigned_at"),
            # A campaign's outcome: who completed its item since it was sent.
            ("item", "status", "completed_at"),
        ],
    }
