"""Alert rules a care team sets for a patient, and the alerts they open.

A rule is evaluated when a reading of its measure is stored (threshold, zone) or by the jobs
worker (no_data). `open_alert` on the rule is a hint that spares the logging path a read of
the alerts; the truth is the alert's `active` flag, unique per rule, so two concurrent
readings can never open two alerts for one rule.
"""

import mongoengine as me

from api.models.base import TimestampedDocument

RULE_KINDS = ("threshold", "no_data", "zone")
# `above`/`below` are strict (above 300 fires at 300.1, not 300); `at_least`/`at_most`
# include the boundary (systolic 180 or more).
RULE_OPS = ("above", "below", "at_least", "at_most")
SEVERITIES = ("info", "warning", "urgent")
SEVERITY_RANK = {"info": 1, "warning": 2, "urgent": 3}
NOTIFY = ("primary", "specialist", "patient")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ZONE_LEVELS = ("yellow", "red")


class AlertRule(TimestampedDocument):
    patient = me.ObjectIdField(required=True)
    measure = me.StringField(required=True, max_length=40)
    kind = me.StringField(required=True, choices=RULE_KINDS)
    op = me.StringField(choices=RULE_OPS)
    value = me.FloatField()  # in `unit`
    unit = me.StringField(required=True, max_length=20)
    count = me.IntField(required=True, default=1, min_value=1)
    within = me.StringField(max_length=20)  # ISO 8601 duration, patient-local calendar
    severity = me.StringField(required=True, choices=SEVERITIES)
    notify = me.ListField(me.StringField(choices=NOTIFY), default=list)
    advice = me.StringField(max_length=500)
    personal_best = me.FloatField()  # zone rules, in `unit`
    yellow_below = me.FloatField()  # percent of the personal best
    red_below = me.FloatField()
    # False for a template's zone rule until a provider sets the patient's personal best.
    enabled = me.BooleanField(required=True, default=True)
    # "template:<template id>:<key>" for a template's default: created once per patient.
    origin = me.StringField(max_length=200)
    created_by = me.ObjectIdField()
    open_alert = me.ObjectIdField()
    open_level = me.StringField(choices=ZONE_LEVELS)
    # When the reading that opened it was taken: an older reading is never the latest, so
    # it cannot close or escalate the alert, and the logging path need not look.
    open_reading_at = me.DateTimeField()
    # no_data rules: when the worker should look again (None while an alert is open).
    check_at = me.DateTimeField()

    meta = {
        "collection": "alert_rules",
        "indexes": [
            ("patient", "measure"),
            ("patient", "created_at"),
            ("kind", "check_at"),
            {
                "fields": ["patient", "origin"],
                "unique": True,
                "partialFilterExpression": {"origin": {"$type": "string"}},
                "name": "one_default_per_origin",
            },
        ],
    }


class AlertReading(me.EmbeddedDocument):
    """A reading that opened (or escalated) an alert, as it was then."""

    uid = me.StringField(max_length=64)
    value = me.FloatField()  # canonical unit of the measure
    occurred_at = me.DateTimeField()


class Alert(me.Document):
    patient = me.ObjectIdField(required=True)
    rule = me.ObjectIdField(required=True)
    measure = me.StringField(required=True, max_length=40)
    kind = me.StringField(required=True, choices=RULE_KINDS)
    severity = me.StringField(required=True, choices=SEVERITIES)
    rank = me.IntField(required=True)  # SEVERITY_RANK: urgent first in worklists
    level = me.StringField(choices=ZONE_LEVELS)
    status = me.StringField(required=True, choices=ALERT_STATUSES)
    # True until resolved (open or acknowledged); the unique index allows one per rule.
    active = me.BooleanField()
    opened_at = me.DateTimeField(required=True)
    readings = me.EmbeddedDocumentListField(AlertReading, default=list)
    unit = me.StringField(max_length=20)  # the rule's unit, to show the readings in
    advice = me.StringField(max_length=500)
    notify = me.ListField(me.StringField(choices=NOTIFY), default=list)
    acknowledged_by = me.ObjectIdField()
    acknowledged_at = me.DateTimeField()
    note = me.StringField(max_length=1000)
    resolved_at = me.DateTimeField()
    resolution = me.StringField(max_length=40)

    meta = {
        "collection": "alerts",
        "indexes": [
            {
                "fields": ["rule"],
                "unique": True,
                "partialFilterExpression": {"active": True},
                "name": "one_open_alert_per_rule",
            },
            ("patient", "-opened_at"),
            ("patient", "status", "-opened_at"),
            ("patient", "status", "-rank", "-opened_at"),
        ],
    }
