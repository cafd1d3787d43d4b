"""Shared set-up for the log, sync and adherence tests: a patient with an active plan."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.models.agreement import Agreement
from api.models.user import QuietHours, User
from tests.factories import active_from

WALK = {
    "id": "g_walk",
    "kind": "exercise",
    "title": "Walk 30 minutes a day",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 30},
    "period": "day",
}
GLUCOSE = {
    "id": "g_glucose",
    "kind": "monitoring",
    "title": "Glucose between 70 and 180",
    "measure": "blood_glucose",
    "unit": "mg/dL",
    "target": {"op": "between", "low": 70, "high": 180},
    "period": "day",
}
WEEKLY_WALK = {
    "id": "g_week",
    "kind": "exercise",
    "title": "150 minutes a week",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 150},
    "period": "week",
}
WEIGHT = {
    "id": "g_weight",
    "kind": "weight",
    "title": "Weigh under 90 kg",
    "measure": "weight",
    "unit": "kg",
    "target": {"op": "at_most", "value": 90},
    "period": "day",
}


@dataclass
class Plan:
    patient: object
    provider: object
    agreement: object
    headers: dict

    @property
    def aid(self) -> str:
        return str(self.agreement.pk)


def plan(factory, *, goals=(WALK, GLUCOSE), tz="UTC", active_since=None, **patient_fields):
    patient = factory.patient(timezone=tz, **patient_fields)
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider, goals=[dict(g) for g in goals])
    if active_since is not None:
        Agreement.objects(pk=agreement.pk).update_one(
            set__active_since=active_since, set__active_from=active_from(active_since, tz)
        )
        agreement.reload()
    return Plan(patient, provider, agreement, factory.headers(patient))


def entry(p: Plan, *, goal="g_walk", value=30, at=None, **extra) -> dict:
    at = at or datetime.now(UTC) - timedelta(hours=1)
    body = {
        "id": str(uuid.uuid4()),
        "agreement_id": p.aid,
        "goal_id": goal,
        "occurred_at": at.isoformat(),
        "value": value,
    }
    body.update(extra)
    return body


def local(day: date, hh: int, mm: int, tz: str, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(tz), fold=fold)


def recent_transition(tz: str, hours: int) -> date:
    """The most recent past local day that lasted `hours` hours (23: spring, 25: fall)."""
    zone = ZoneInfo(tz)
    day = datetime.now(zone).date() - timedelta(days=2)
    for _ in range(400):
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = start + timedelta(days=1)
        end = datetime(end.year, end.month, end.day, tzinfo=zone)
        if (end.astimezone(UTC) - start.astimezone(UTC)) == timedelta(hours=hours):
            return day
        day -= timedelta(days=1)
    raise AssertionError("no DST transition found")


def phone_in_quiet_hours(client, p: Plan, *, platform: str, token: str) -> None:
    """Register the patient's phone and put the patient inside quiet hours right now."""
    device = client.post(
        "/api/v1/patients/me/devices",
        json={"platform": platform, "token": token},
        headers=p.headers,
    )
    assert device.status_code == 201
    now = datetime.now(UTC)
    quiet = QuietHours(
        start=(now - timedelta(hours=1)).strftime("%H:%M"),
        end=(now + timedelta(hours=1)).strftime("%H:%M"),
    )
    User.objects(pk=p.patient.pk).update_one(set__quiet_hours=quiet)


def post(client, p: Plan, body, pid="me", headers=None):
    return client.post(f"/api/v1/patients/{pid}/logs", json=body, headers=headers or p.headers)


def periods(mongo, patient_id) -> dict[tuple[str, str], dict]:
    """Every stored rollup period of a patient: (goal id, period key) → its fields."""
    return {
        (doc["goal_id"], key): period
        for doc in mongo.adherence_rollups.find({"patient": patient_id})
        for key, period in (doc.get("p") or {}).items()
    }
