"""Shared set-up for the agreement tests: the people around one patient, and request bodies."""

import copy
from dataclasses import dataclass

from api.clock import utcnow
from api.models.caregiver import Grant
from api.models.user import User

BASE = "/api/v1/patients"

GOAL = {
    "kind": "exercise",
    "title": "Walk 30 minutes a day",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 30},
    "period": "day",
    "reminder_times": ["18:00"],
}
CHECKUP = {"name": "HbA1c", "code": "4548-4", "interval": "P3M", "remind_days_before": [7, 1]}
EDUCATION = {"title": "Type 2 diabetes", "url": "https://medlineplus.gov/diabetestype2.html"}


def plan(**overrides) -> dict:
    body = {
        "title": "Type 2 diabetes plan",
        "conditions": ["Type 2 Diabetes"],
        "goals": [copy.deepcopy(GOAL)],
        "checkups": [copy.deepcopy(CHECKUP)],
        "education": [copy.deepcopy(EDUCATION)],
        "start_on": "2026-01-05",
        "review_on": "2026-04-05",
    }
    body.update(overrides)
    return body


def grant(caregiver: User, patient: User, permissions: list[str]) -> Grant:
    return Grant(
        status="active",
        permissions=permissions,
        caregiver=caregiver.pk,
        patient=patient.pk,
        relationship="parent",
        created_by=patient.pk,
        activated_at=utcnow(),
    ).save()


@dataclass
class Circle:
    """A patient with a provider on the team, a stranger provider and two caregivers."""

    patient: User
    provider: User
    other_provider: User | None
    manager: User | None  # caregiver whose grant has manage
    viewer: User | None  # caregiver whose grant has only view
    headers: dict

    def url(self, suffix: str = "") -> str:
        return f"{BASE}/{self.patient.pk}/agreements{suffix}"


def circle(factory, *, lean: bool = False, **patient_fields) -> Circle:
    """`lean`: only the patient and their provider (for tests about input, not access)."""
    patient = factory.patient(**patient_fields)
    provider = factory.provider()
    factory.membership(patient, provider)
    other = manager = viewer = None
    if not lean:
        other, manager, viewer = factory.provider(), factory.patient(), factory.patient()
        grant(manager, patient, ["view", "log", "manage"])
        grant(viewer, patient, ["view"])
    people = {
        "patient": patient,
        "provider": provider,
        "other_provider": other,
        "caregiver_manage": manager,
        "caregiver_view": viewer,
    }
    headers = {role: factory.headers(user) for role, user in people.items() if user}
    return Circle(patient, provider, other, manager, viewer, headers)
