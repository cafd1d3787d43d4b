"""Build the people and relationships a test is about in one call each."""

import itertools
from datetime import timedelta

from api.clock import utcnow
from api.ids import new_id
from api.models.agreement import Agreement, AgreementContent, AgreementVersion, Goal, Target
from api.models.care_team import CareTeamMember
from api.models.caregiver import Grant
from api.services.common import local_days
from api.services.identity import accounts, tokens

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


def active_from(active_since, tz):
    """What accepting stores: the start of the patient's local day of activation."""
    return local_days.day_start(local_days.local_date(active_since, tz), tz)


class Factory:
    def __init__(self, app):
        self.app = app

    def user(self, role: str, **fields):
        n = next(_sequence)
        fields.setdefault("email", f"{role}{n}@example.org")
        fields.setdefault("name", f"{role.title()} {n}")
        fields.setdefault("password", PASSWORD)
        if role == "provider":
            fields.setdefault("specialty", "primary care")
        return accounts.create_user(role=role, **fields)

    def patient(self, **fields):
        return self.user("patient", **fields)

    def provider(self, **fields):
        return self.user("provider", **fields)

    def admin(self, **fields):
        return self.user("admin", **fields)

    def membership(self, patient, provider, *, status="active", role="primary"):
        now = utcnow()
        return CareTeamMember(
            patient=patient.pk,
            provider=provider.pk,
            role=role,
            status=status,
            open=status != "ended",
            activated_at=now if status != "pending" else None,
            ended_at=now if status == "ended" else None,
        ).save()

    def grant(self, patient, caregiver, *, permissions=("view",), status="active", expires_on=None):
        """A caregiver grant stored directly; `permissions` are stored as given (cumulative)."""
        now = utcnow()
        return Grant(
            patient=patient.pk,
            caregiver=caregiver.pk,
            relationship="parent",
            permissions=list(permissions),
            status=status,
            expires_on=expires_on,
            created_by=patient.pk,
            activated_at=now,
            ended_at=now if status == "ended" else None,
        ).save()

    def tokens(self, user) -> dict:
        with self.app.test_request_context():
            return tokens.issue_pair(user)

    def headers(self, user) -> dict:
        return {"Authorization": f"Bearer {self.tokens(user)['access_token']}"}

    def agreement(
        self, patient, provider, *, status="active", goals=None, checkups=None, **content
    ):
        """An agreement stored directly (not through the API); active ones get version 1.

        `goals` are dicts in the contract's shape; ids are generated when missing.
        """
        now = utcnow()
        content.setdefault("title", "Type 2 diabetes plan")
        content.setdefault("conditions", ["type 2 diabetes"])
        content.setdefault("start_on", (now - timedelta(days=400)).date())
        built_goals = []
        for spec in goals if goals is not None else [DEFAULT_GOAL]:
            spec = {**spec, "target": Target(**spec["target"])}
            spec.setdefault("id", new_id("g"))
            built_goals.append(Goal(**spec))
        agreement = Agreement(
            patient=patient.pk,
            author=provider.pk,
            status=status,
            content=AgreementContent(goals=built_goals, checkups=checkups or [], **content),
            created_at=now,
        )
        if status == "active":
            agreement.accepted_version = 1
            agreement.accepted_by = patient.pk
            agreement.accepted_at = agreement.active_since = content.get("active_since") or (
                now - timedelta(days=400)
            )
            agreement.active_from = active_from(agreement.active_since, patient.timezone)
        agreement.save()
        if status == "active":
            AgreementVersion(
                agreement=agreement.pk,
                patient=patient.pk,
                number=1,
                content=agreement.content,
                accepted_by=patient.pk,
                accepted_at=agreement.accepted_at,
            ).save()
        return agreement


DEFAULT_GOAL = {
    "kind": "exercise",
    "title": "Walk 30 minutes a day",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 30},
    "period": "day",
    "reminder_times": ["18:00"],
}
