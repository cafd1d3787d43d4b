"""A small panel worth opening, written through the API and services as real use would."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.clock import utcnow
from api.models.agreement import Checkup
from api.services.care import care_team
from api.services.flows import memberships
from tests.log_helpers import GLUCOSE, WALK

HBA1C = Checkup(id="c_hba1c", name="HbA1c", code="4548-4", interval="P3M", remind_days_before=[7])


@dataclass
class World:
    gp: object
    specialist: object
    urgent: object  # a patient with an urgent glucose alert
    steady: object  # a patient meeting targets
    stranger: object  # another team's patient
    aid: str


def join(patient, provider, role="primary"):
    code = care_team.create_invitation(provider.pk, role=role, valid_days=7, now=utcnow())
    memberships.join_with_code(patient, code["code"], now=utcnow())


def entry(aid, goal, value, hours_ago) -> dict:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    return {
        "id": str(uuid.uuid4()),
        "agreement_id": aid,
        "goal_id": goal,
        "occurred_at": at.isoformat(),
        "value": value,
    }


def log(client, factory, patient, entries):
    response = client.post(
        "/api/v1/patients/me/logs/batch",
        json={"entries": entries},
        headers=factory.headers(patient),
    )
    assert response.status_code == 200, response.get_json()
    assert all(r["status"] == "created" for r in response.get_json()["results"])


def build(client, factory) -> World:
    gp = factory.provider(name="Dr Grace Patel")
    specialist = factory.provider(name="Dr Omar Said", specialty="endocrinology")
    urgent = factory.patient(name="Ursula Urgent", timezone="America/Chicago")
    steady = factory.patient(name="Sam Steady", timezone="Europe/London")
    stranger = factory.patient(name="Stella Stranger")
    other_gp = factory.provider(name="Dr Elsewhere")
    goals = [dict(GLUCOSE), dict(WALK)]
    agreement = factory.agreement(urgent, gp, goals=goals, checkups=[HBA1C])
    steady_plan = factory.agreement(steady, gp, goals=[dict(WALK)], conditions=["hypertension"])
    # Joining after the plans: the membership flow puts their conditions in the panel search.
    for patient in (urgent, steady):
        join(patient, gp)
    join(urgent, specialist, role="specialist")
    join(stranger, other_gp)
    aid = str(agreement.pk)
    rule = {
        "measure": "blood_glucose",
        "kind": "threshold",
        "op": "above",
        "value": 300,
        "unit": "mg/dL",
        "severity": "urgent",
        "notify": ["primary"],
    }
    response = client.post(
        f"/api/v1/patients/{urgent.pk}/alert-rules", json=rule, headers=factory.headers(gp)
    )
    assert response.status_code == 201, response.get_json()
    readings = [
        entry(aid, "g_glucose", value, day * 24 + hour)
        for day in range(6, 0, -1)
        for hour, value in ((7, 110), (13, 150), (19, 170))
    ]
    log(client, factory, urgent, readings)
    walks = [entry(str(steady_plan.pk), "g_walk", 40, day * 24) for day in range(6, 0, -1)]
    log(client, factory, steady, walks)
    # Out of range now: the urgent alert opens with this reading.
    log(client, factory, urgent, [entry(aid, "g_glucose", 320, 2)])
    # The endocrinologist already did the HbA1c last week.
    done = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    response = client.post(
        f"/api/v1/patients/{urgent.pk}/checkups/c_hba1c/completions",
        json={"done_on": done, "result": "7.1 %"},
        headers=factory.headers(specialist),
    )
    assert response.status_code == 201, response.get_json()
    return World(gp, specialist, urgent, steady, stranger, aid)
