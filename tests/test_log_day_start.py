"""Defect 3: entries are taken from the start of the patient's local day on which the
agreement became active (a plan accepted at 18:00 takes the 09:00 walk), DST days and
midnight boundaries included; anything earlier is a 422 naming `occurred_at`."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.access import Scope
from api.auth import Caller
from api.errors import ValidationFailed
from api.services.common import local_days
from api.services.flows import agreements as agreement_flow
from api.services.flows import entries as entry_flow
from api.services.tracking.entry_input import Author
from tests.log_helpers import WALK, entry, local, plan, post


def accepted_plan(factory, tz: str, accepted_at: datetime):
    """A walking plan proposed by the provider and accepted by the patient at `accepted_at`."""
    patient = factory.patient(timezone=tz)
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider, status="proposed", goals=[dict(WALK)])
    scope = Scope(patient.pk, Caller(patient.pk, "patient", "f", "j"), "self", _patient=patient)
    agreement_flow.transition(
        scope=scope, agreement_id=str(agreement.pk), action="accept", minor_age=16, now=accepted_at
    )
    return patient, agreement


def log_walk(patient, agreement, at: datetime, now: datetime) -> dict:
    item = {
        "id": uuid.uuid4(),
        "agreement_id": str(agreement.pk),
        "goal_id": WALK["id"],
        "occurred_at": at,
        "value": 40,
    }
    entry, created, _ = entry_flow.log_entry(Author(patient.pk, patient.pk, "self"), item, now=now)
    assert created
    return entry


# (zone, local day of acceptance, the day's first instant in UTC): a spring-forward day,
# a fall-back day, a zone whose midnight is skipped (Chile moves 24:00 to 01:00), and a
# zone fourteen hours ahead of UTC, where the local day starts the UTC day before.
DAYS = [
    ("Europe/London", (2026, 3, 29), datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    ("Europe/London", (2026, 10, 25), datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
    ("America/Santiago", (2026, 9, 6), datetime(2026, 9, 6, 4, 0, tzinfo=UTC)),
    ("Pacific/Kiritimati", (2026, 6, 10), datetime(2026, 6, 9, 10, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("tz", "day", "first_instant"), DAYS)
def test_the_day_of_activation_counts_from_its_first_instant(
    app, factory, mongo, tz, day, first_instant
):
    accepted_at = local(datetime(*day).date(), 18, 0, tz).astimezone(UTC)
    patient, agreement = accepted_plan(factory, tz, accepted_at)
    assert local_days.day_start(datetime(*day).date(), tz) == first_instant
    stored = mongo.agreements.find_one({"_id": agreement.pk})
    assert stored["active_from"].replace(tzinfo=UTC) == first_instant

    first = log_walk(patient, agreement, first_instant, accepted_at)
    assert first["local_date"] == datetime(*day).date().isoformat()
    with pytest.raises(ValidationFailed) as refused:
        log_walk(patient, agreement, first_instant - timedelta(minutes=1), accepted_at)
    assert list(refused.value.errors) == ["occurred_at"]
    assert mongo.log_entries.count_documents({"patient": patient.pk, "state": "live"}) == 1


def test_a_plan_accepted_today_takes_this_mornings_walk_through_http(client, factory, mongo):
    """Accepted now (over HTTP); the walk at the first minute of today's local day is taken,
    the minute before it is a 422 naming `occurred_at`, and nothing is stored for it."""
    tz = "America/New_York"
    patient = factory.patient(timezone=tz)
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider, status="proposed", goals=[dict(WALK)])
    headers = factory.headers(patient)
    accepted = client.post(f"/api/v1/patients/me/agreements/{agreement.pk}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.get_json()
    start = local_days.day_start(local_days.today(datetime.now(UTC), tz), tz)

    body = {
        "id": str(uuid.uuid4()),
        "agreement_id": str(agreement.pk),
        "goal_id": WALK["id"],
        "occurred_at": start.isoformat(),
        "value": 35,
    }
    response = client.post("/api/v1/patients/me/logs", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    earlier = {
        **body,
        "id": str(uuid.uuid4()),
        "occurred_at": (start - timedelta(minutes=1)).isoformat(),
    }
    refused = client.post("/api/v1/patients/me/logs", json=earlier, headers=headers)
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert list(refused.get_json()["errors"]) == ["occurred_at"]
    assert mongo.log_entries.count_documents({"patient": patient.pk}) == 1


def test_an_agreement_stored_before_active_from_uses_the_patients_zone(client, factory, mongo):
    """Agreements activated by an earlier release have no `active_from`: the local day of
    `active_since` in the patient's zone stands in."""
    tz = "Asia/Tokyo"
    now = datetime.now(UTC)
    p = plan(factory, goals=[WALK], tz=tz, active_since=now - timedelta(minutes=2))
    mongo.agreements.update_one({"_id": p.agreement.pk}, {"$unset": {"active_from": ""}})
    start = local_days.day_start(local_days.local_date(now - timedelta(minutes=2), tz), tz)
    assert post(client, p, entry(p, at=start)).status_code == 201
    refused = post(client, p, entry(p, at=start - timedelta(seconds=1)))
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["occurred_at"]
