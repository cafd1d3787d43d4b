"""Build the people and relationships a test is about in one call each."""

import itertools

from api.clock import utcnow
from api.models.care_team import CareTeamMember
from api.services import accounts, tokens

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


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

    def tokens(self, user) -> dict:
        with self.app.test_request_context():
            return tokens.issue_pair(user)

    def headers(self, user) -> dict:
        return {"Authorization": f"Bearer {self.tokens(user)['access_token']}"}
