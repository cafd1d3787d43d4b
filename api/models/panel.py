"""The provider panel's own index: rows and bucket counts, derived from the summaries.

The embedded server materialises every index entry a query's range matches before it
applies `limit`, so a page must be read through a narrow key range. Each row carries one
sortable string key per sort order, prefixed by "<provider>:<view>:" (`view` is "all" or a
flag), and `PanelCount` keeps how many rows each bucket of a key holds; the panel finds the
buckets that hold the page, then reads only those rows.
"""

import mongoengine as me

FLAGS = (
    "low_adherence",
    "no_recent_logs",
    "out_of_range",
    "overdue_checkup",
    "open_alert",
    # CGM triage over the last 14 days (tracking.glucose_flags).
    "time_very_low",
    "time_low",
    "tir_below_70",
    "tir_drop",
    "low_wear",
)
# The console's triage buckets that are not flags of the panel API: open alerts by severity,
# no data for 7 days (the summary's `no_data_7d`), and patients with a figure and nothing
# flagged.
TRIAGE_VIEWS = ("urgent_alert", "warning_alert", "no_data_7d", "meeting_targets")
VIEWS = ("all", *FLAGS, *TRIAGE_VIEWS)
SORTS = ("adherence_7d", "adherence_30d", "last_log")


class PanelRow(me.Document):
    """One per (provider, patient, view); `_id` is "<provider>:<view>:<patient>"."""

    id = me.StringField(primary_key=True)
    provider = me.ObjectIdField(required=True)
    patient = me.ObjectIdField(required=True)
    view = me.StringField(required=True, choices=VIEWS)
    adherence_7d = me.StringField(required=True)
    adherence_30d = me.StringField(required=True)
    last_log = me.StringField(required=True)

    meta = {
        "collection": "panel_rows",
        "indexes": [
            {"fields": ["adherence_7d"], "unique": True},
            {"fields": ["adherence_30d"], "unique": True},
            {"fields": ["last_log"], "unique": True},
            ("patient", "provider"),
        ],
    }


class PanelCount(me.Document):
    """Rows per bucket of one sort key: `_id` is "<provider>:<view>:<sort>"."""

    id = me.StringField(primary_key=True)
    buckets = me.MapField(me.IntField(), default=dict)

    meta = {"collection": "panel_counts"}


class PanelTerm(me.Document):
    """What the console's search finds a patient on a provider's panel by: one per
    (provider, term, patient), `key` "<provider>:n:<name from one of its words on>|<patient>"
    or "<provider>:c:<condition>|<patient>", so a search is one range of the `key` index (the
    embedded server scans the collection for a range of `_id`)."""

    key = me.StringField(required=True)
    provider = me.ObjectIdField(required=True)
    patient = me.ObjectIdField(required=True)

    meta = {
        "collection": "panel_terms",
        "indexes": [{"fields": ["key"], "unique": True}, "patient"],
    }
