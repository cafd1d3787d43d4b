"""Log entries (the source) and what is derived from them: rollups and the patient summary.

Hot paths write these collections with pymongo directly (one round trip each); the
Documents declare the shape and, above all, the indexes every query path uses.
"""

import mongoengine as me

LIVE = "live"
DELETED = "deleted"  # a tombstone: kept so syncing phones learn of the deletion
VOID = "void"  # fills a sequence number that was allocated but not used (see services.logs)
STATES = (LIVE, DELETED, VOID)
SOURCES = ("app", "provider", "device")


class EntryRevision(me.EmbeddedDocument):
    """The state an entry had before an edit or deletion, and who changed it."""

    value = me.FloatField()
    entered_value = me.FloatField()
    entered_unit = me.StringField(max_length=20)
    occurred_at = me.DateTimeField()
    note = me.StringField(max_length=1000)
    changed_at = me.DateTimeField(required=True)
    changed_by = me.ObjectIdField()
    change = me.StringField(max_length=10)


class LogEntry(me.Document):
    """One thing a patient did, against a goal. `uid` is the client-chosen UUID.

    `seq` is the patient's change sequence number of the entry's latest change: sync reads
    changes in `seq` order. A deleted entry stays as a tombstone with a new `seq`.
    """

    patient = me.ObjectIdField(required=True)
    uid = me.StringField(required=True, max_length=64)
    seq = me.IntField(required=True)
    state = me.StringField(required=True, choices=STATES, default=LIVE)
    agreement = me.ObjectIdField()
    goal_id = me.StringField(max_length=40)
    measure = me.StringField(max_length=40)
    occurred_at = me.DateTimeField()
    # The patient's zone when the entry was logged, and the local day/period it counts for.
    tz = me.StringField(max_length=64)
    local_date = me.StringField(max_length=10)
    period_key = me.StringField(max_length=10)
    value = me.FloatField()  # in the measure's canonical unit
    entered_value = me.FloatField()  # what the patient typed
    entered_unit = me.StringField(max_length=20)
    # False when a reading is outside the goal's target (glucose, blood pressure).
    in_target = me.BooleanField()
    note = me.StringField(max_length=1000)
    source = me.StringField(choices=SOURCES)
    recorded_by = me.ObjectIdField()
    body_hash = me.StringField(max_length=64)
    history = me.EmbeddedDocumentListField(EntryRevision, default=list)
    created_at = me.DateTimeField()
    updated_at = me.DateTimeField()
    changed_at = me.DateTimeField()
    deleted_at = me.DateTimeField()

    meta = {
        "collection": "log_entries",
        "indexes": [
            {"fields": ["patient", "uid"], "unique": True, "name": "one_entry_per_id"},
            {"fields": ["patient", "seq"], "unique": True, "name": "change_sequence"},
            {"fields": ["patient", "state", "-occurred_at"]},
            {"fields": ["patient", "goal_id", "state", "-occurred_at"]},
            # Alert rules read a measure's latest readings (services.alerts).
            {"fields": ["patient", "measure", "state", "-occurred_at"]},
        ],
    }


class Rollup(me.Document):
    """A goal's periods in one calendar quarter of a patient: each local day (or ISO week,
    filed under the quarter of its Monday) is one entry of `p`, keyed by its period key.

    `_id` is "<patient>:<goal id>:<YYYY-Qn>". A period holds the counters `count`,
    `total` and `out` (readings outside the target), which move by `$inc` on every write, edit
    and delete, and `met`/`value`, rewritten only when they change, guarded by the document's
    `rev`. `items` (uid → [occurred_at, value]) is kept for "last reading counts" measures
    only; `closed` is set by the nightly close-out. A quarter per document keeps a year's report
    at five documents per goal instead of hundreds (the embedded server's cost of a read is
    more per document than per field).
    """

    id = me.StringField(primary_key=True)
    patient = me.ObjectIdField(required=True)
    goal_id = me.StringField(required=True, max_length=40)
    period = me.StringField(required=True, choices=("day", "week"))
    quarter = me.StringField(required=True, max_length=7)
    p = me.DictField()
    rev = me.IntField(default=0)

    meta = {
        "collection": "adherence_rollups",
        "indexes": [("patient", "quarter")],
    }


class GoalActivity(me.EmbeddedDocument):
    last_at = me.DateTimeField()


class ScheduledCheckup(me.EmbeddedDocument):
    id = me.StringField(max_length=40)
    name = me.StringField(max_length=200)
    due_on = me.StringField(max_length=10)  # "YYYY-MM-DD", in the patient's calendar


class AdherenceSummary(me.Document):
    """One per patient (`_id` = patient id): what the provider panel shows, and the counter.

    Written only by `api.services.tracking.summary`. `seq` is the patient's change sequence;
    `tz` and `glucose_unit` mirror the profile so the logging path needs no user read (the
    profile flow keeps them current).
    """

    id = me.ObjectIdField(primary_key=True)
    seq = me.IntField(default=0)
    # Moved by the agreements flow after any change to the patient's agreements: logging
    # processes confirm their remembered copies against it (`agreement_memory`).
    agreements_rev = me.IntField(default=0)
    # New after every revocation of the patient's tokens: logging processes confirm tokens
    # they remember unrevoked against it (`session_memory`).
    sessions_rev = me.ObjectIdField()
    tz = me.StringField(max_length=64)
    glucose_unit = me.StringField(max_length=10)
    last_logged_at = me.DateTimeField()
    last_out_of_range_at = me.DateTimeField()
    goals = me.MapField(me.EmbeddedDocumentField(GoalActivity))
    days_7d = me.IntField()
    met_7d = me.IntField()
    adherence_7d = me.FloatField()
    days_30d = me.IntField()
    met_30d = me.IntField()
    adherence_30d = me.FloatField()
    out_of_range_7d = me.IntField()
    # Panel flag → raised? (`summary.FLAGS`; each domain sets its own with a `$set` of one path.)
    flags = me.MapField(me.BooleanField())
    # Open (unacknowledged) alerts by severity; `flags.open_alert` says whether any are.
    open_alerts = me.MapField(me.IntField())
    # measure → the patient's alert rules as the logging path judges a reading against them
    # (`summary.mirror_rules`): no rule read when no rule can change.
    alert_rules = me.DictField()
    # The check-up schedule (check-ups own it): each active check-up's next due date.
    checkups_due = me.EmbeddedDocumentListField(ScheduledCheckup)
    next_checkup_due_on = me.StringField(max_length=10)
    # The keys the patient's panel rows were last built from (`panel.panel_key`).
    panel_key = me.StringField()
    computed_on = me.StringField(max_length=10)
    updated_at = me.DateTimeField()
    # The last "mark reviewed" by a provider on the team, with the reviewer's name then.
    reviewed_at = me.DateTimeField()
    reviewed_by = me.ObjectIdField()
    reviewed_by_name = me.StringField(max_length=200)

    meta = {"collection": "adherence_summaries", "indexes": ["flags", "adherence_30d"]}
