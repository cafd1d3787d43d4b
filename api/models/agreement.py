"""Care agreements: versioned plans a provider proposes and a patient commits to.

`Agreement.content` is the plan in force (or the draft being prepared). Editing an active
agreement stores the proposal in `revision`; the active content stays in force until the
patient accepts it. Every accepted content is copied, immutably, to `AgreementVersion`.
Goal and check-up ids are stable across versions, so logs and reminders keep pointing at them.
"""

import mongoengine as me

from api.models.base import TimestampedDocument

STATUSES = ("draft", "proposed", "active", "completed", "revoked")
GOAL_KINDS = ("diet", "exercise", "monitoring", "medication", "weight", "custom")
TARGET_OPS = ("at_least", "at_most", "between")
PERIODS = ("day", "week")


class Target(me.EmbeddedDocument):
    op = me.StringField(required=True, choices=TARGET_OPS)
    value = me.FloatField()
    low = me.FloatField()
    high = me.FloatField()


class Goal(me.EmbeddedDocument):
    id = me.StringField(required=True, max_length=40)
    kind = me.StringField(required=True, choices=GOAL_KINDS)
    title = me.StringField(required=True, max_length=200)
    measure = me.StringField(required=True, max_length=40)
    # The unit the target is written in; stored targets are in this unit.
    unit = me.StringField(required=True, max_length=20)
    target = me.EmbeddedDocumentField(Target, required=True)
    period = me.StringField(required=True, choices=PERIODS, default="day")
    reminder_times = me.ListField(me.StringField(max_length=5), default=list)


class Checkup(me.EmbeddedDocument):
    id = me.StringField(required=True, max_length=40)
    name = me.StringField(required=True, max_length=200)
    code = me.StringField(max_length=40)
    interval = me.StringField(required=True, max_length=20)  # ISO 8601 duration, e.g. P3M
    remind_days_before = me.ListField(me.IntField(min_value=0, max_value=365), default=list)


class EducationRef(me.EmbeddedDocument):
    title = me.StringField(required=True, max_length=200)
    url = me.StringField(max_length=2000)
    item_id = me.StringField(max_length=40)


class AgreementContent(me.EmbeddedDocument):
    title = me.StringField(required=True, max_length=200)
    conditions = me.ListField(me.StringField(max_length=80), default=list)
    goals = me.EmbeddedDocumentListField(Goal, default=list)
    checkups = me.EmbeddedDocumentListField(Checkup, default=list)
    education = me.EmbeddedDocumentListField(EducationRef, default=list)
    start_on = me.DateField()
    review_on = me.DateField()


class Agreement(TimestampedDocument):
    patient = me.ObjectIdField(required=True)
    author = me.ObjectIdField(required=True)
    status = me.StringField(required=True, choices=STATUSES, default="draft")
    # Bumped by every change; the ETag derives from it (optimistic concurrency).
    version = me.IntField(required=True, default=1)
    content = me.EmbeddedDocumentField(AgreementContent, required=True)
    # A proposed edit of an active agreement, awaiting the patient.
    revision = me.EmbeddedDocumentField(AgreementContent)
    revision_proposed_by = me.ObjectIdField()
    revision_proposed_at = me.DateTimeField()
    # The accepted version number in force, and since when.
    accepted_version = me.IntField()
    active_since = me.DateTimeField()
    # The start of the patient's local day of `active_since`: entries are taken from then.
    active_from = me.DateTimeField()
    template_id = me.StringField(max_length=80)
    proposed_by = me.ObjectIdField()
    proposed_at = me.DateTimeField()
    accepted_by = me.ObjectIdField()
    on_behalf_of = me.ObjectIdField()
    accepted_at = me.DateTimeField()
    ended_at = me.DateTimeField()
    ended_by = me.ObjectIdField()
    replaced_by = me.ObjectIdField()

    meta = {
        "collection": "agreements",
        "indexes": [
            ("patient", "status", "-created_at"),
            ("patient", "-created_at"),
            ("status", "patient"),
            # Reminder dispatch skips agreements that ended since their reminders were planned.
            ("status", "ended_at"),
        ],
    }

    def goal(self, goal_id: str) -> Goal | None:
        return next((g for g in self.content.goals if g.id == goal_id), None)

    def checkup(self, checkup_id: str) -> Checkup | None:
        return next((c for c in self.content.checkups if c.id == checkup_id), None)


class AgreementVersion(me.Document):
    """One accepted version, never changed after it is written."""

    agreement = me.ObjectIdField(required=True)
    patient = me.ObjectIdField(required=True)
    number = me.IntField(required=True)
    content = me.EmbeddedDocumentField(AgreementContent, required=True)
    proposed_by = me.ObjectIdField()
    accepted_by = me.ObjectIdField(required=True)
    on_behalf_of = me.ObjectIdField()
    accepted_at = me.DateTimeField(required=True)

    meta = {
        "collection": "agreement_versions",
        "indexes": [
            {"fields": ["agreement", "-number"], "unique": True},
            ("patient", "accepted_at"),
        ],
    }

    def save(self, *args, **kwargs):
        # Accepted versions are a record of what the patient agreed to: insert, never update.
        if self.pk is not None:
            raise TypeError("An accepted agreement version cannot be changed.")
        return super().save(*args, force_insert=True, **kwargs)


class AgreementTemplate(TimestampedDocument):
    """A reusable plan a provider wrote. Built-in templates live in api/templates/*.json.

    Goal and check-up ids in a template are placeholders: instantiating one gives fresh ids.
    """

    template_id = me.StringField(required=True, unique=True, max_length=80)
    name = me.StringField(required=True, max_length=200)
    description = me.StringField(max_length=2000)
    # How long after `start_on` the plan is reviewed, e.g. P3M; sets `review_on`.
    review_after = me.StringField(max_length=20)
    content = me.EmbeddedDocumentField(AgreementContent, required=True)
    author = me.ObjectIdField()

    meta = {
        "collection": "agreement_templates",
        "indexes": [("content.conditions", "template_id")],
    }
