"""Flows through HTTP: each trigger moves every derived view consistently.

After each write, the views that derive from the patient's state must agree with it and with
each other: every panel filter with the flags its rows show (and the filter's count with its
rows), the clinic's population aggregates with a rebuild from the summaries, and the
summary's open-alert counts with the alerts stored.
"""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.clock import utcnow
from api.models.panel import FLAGS
from api.services.clinic import population_rebuild
from tests.agreement_helpers import CHECKUP
from tests.log_helpers import GLUCOSE
from tests.test_population import activate, enrol, join, make_clinic, normalised, view

PANEL = "/api/v1/panel"


def panel_row(client, headers, patient):
    response = client.get(PANEL, headers=headers)
    assert response.status_code == 200
    rows = [r for r in response.get_json() if r["patient"]["id"] == str(patient.pk)]
    return rows[0] if rows else None


def assert_panel_agrees(client, headers, patient) -> dict | None:
    """Each flag filter holds the patient exactly when their row shows that flag, and the
    filter's total is the rows it returns."""
    row = panel_row(client, headers, patient)
    for flag in FLAGS:
        response = client.get(f"{PANEL}?flag={flag}&page_size=100", headers=headers)
        assert response.status_code == 200
        ids = [r["patient"]["id"] for r in response.get_json()]
        shown = row is not None and flag in row["flags"]
        assert (str(patient.pk) in ids) == shown, (flag, row)
        assert all(flag in r["flags"] for r in response.get_json())
        assert int(response.headers["X-Pagination"].split('"total": ')[1].split(",")[0]) == len(ids)
    return row


def figures(mongo, cid) -> dict:
    """The aggregates' counts (names of gaps nobody has any more stay behind harmlessly)."""
    return {
        key: {k: v for k, v in doc.items() if k != "gap_names"}
        for key, doc in normalised(mongo, cid).items()
    }


def assert_population_agrees(mongo, cid) -> dict:
    """The incrementally moved aggregates equal a rebuild from the summaries."""
    incremental = figures(mongo, cid)
    population_rebuild.rebuild(cid, now=utcnow())
    assert figures(mongo, cid) == incremental
    return incremental


def assert_alert_counts_agree(mongo, patient) -> int:
    stored = mongo.alerts.count_documents({"patient": patient.pk, "status": "open"})
    summary = mongo.adherence_summaries.find_one({"_id": patient.pk}) or {}
    assert sum((summary.get("open_alerts") or {}).values()) == stored
    assert bool((summary.get("flags") or {}).get("open_alert")) == (stored > 0)
    return stored


def assert_consistent(client, factory, mongo, provider, cid, patient) -> dict | None:
    assert_alert_counts_agree(mongo, patient)
    assert_population_agrees(mongo, cid)
    return assert_panel_agrees(client, factory.headers(provider), patient)


def glucose(client, patient, value, *, minutes_ago=30):
    [agreement] = client.get("/api/v1/patients/me/agreements", headers=_headers(patient)).get_json()
    goal = next(g for g in agreement["goals"] if g["measure"] == "blood_glucose")
    body = {
        "id": str(uuid.uuid4()),
        "agreement_id": agreement["id"],
        "goal_id": goal["id"],
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "value": value,
    }
    response = client.post("/api/v1/patients/me/logs", json=body, headers=_headers(patient))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


_HEADERS = {}


def _headers(patient):
    return _HEADERS[patient.pk]


def _offset(zone_or_user) -> timedelta:
    zone = getattr(zone_or_user, "timezone", zone_or_user)
    return datetime.now(ZoneInfo(zone)).utcoffset()


def midday_zone() -> str:
    """A zone where it is about noon now, so an hour of readings stays within one local day."""
    offset = max(-12, min(14, 12 - datetime.now(UTC).hour))
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def clinic_patient(client, factory):
    """A provider in a clinic; their patient with an active glucose plan (HbA1c overdue)."""
    provider = factory.provider()
    cid = make_clinic(client, factory, provider)
    patient = factory.patient(timezone=midday_zone())
    join(client, factory, provider, patient)
    goal = {k: v for k, v in GLUCOSE.items() if k != "id"}
    activate(
        client,
        factory,
        provider,
        patient,
        conditions=["type 2 diabetes"],
        checkups=[CHECKUP],
        goals=[goal],
    )
    _HEADERS[patient.pk] = factory.headers(patient)
    return provider, cid, patient


def add_rule(client, factory, provider, patient, **fields):
    body = {
        "measure": "blood_glucose",
        "kind": "threshold",
        "op": "above",
        "value": 250,
        "unit": "mg/dL",
        "severity": "warning",
        "notify": ["primary"],
        **fields,
    }
    response = client.post(
        f"/api/v1/patients/{patient.pk}/alert-rules", json=body, headers=factory.headers(provider)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


# --- entries --------------------------------------------------------------------------------


def test_a_reading_that_opens_an_alert_is_in_the_open_alert_filter(
    client, factory, mongo, clinic_patient
):
    """Defect 1: the row showed `open_alert` while `?flag=open_alert` returned []."""
    provider, cid, patient = clinic_patient
    add_rule(client, factory, provider, patient)
    glucose(client, patient, 320, minutes_ago=0)

    headers = factory.headers(provider)
    row = panel_row(client, headers, patient)
    assert {"out_of_range", "open_alert"} <= set(row["flags"])
    filtered = client.get(f"{PANEL}?flag=open_alert", headers=headers).get_json()
    assert [r["patient"]["id"] for r in filtered] == [str(patient.pk)]
    assert assert_alert_counts_agree(mongo, patient) == 1
    assert assert_population_agrees(mongo, cid)[f"{cid}:*"]["alerts"] == {"warning": 1}
    assert view(client, factory, provider, cid).get_json()["current"]["open_alerts"] == {
        "info": 0,
        "warning": 1,
        "urgent": 0,
    }
    assert_panel_agrees(client, headers, patient)


def test_a_reading_back_in_range_closes_the_alert_in_every_view(
    client, factory, mongo, clinic_patient
):
    provider, cid, patient = clinic_patient
    add_rule(client, factory, provider, patient)
    glucose(client, patient, 320, minutes_ago=60)
    glucose(client, patient, 110, minutes_ago=10)
    assert mongo.alerts.find_one({"patient": patient.pk})["status"] == "resolved"
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "open_alert" not in row["flags"] and "out_of_range" in row["flags"]
    assert "alerts" not in figures(mongo, cid)[f"{cid}:*"]


def test_an_edit_and_a_delete_move_every_view(client, factory, mongo, clinic_patient):
    provider, cid, patient = clinic_patient
    add_rule(client, factory, provider, patient)
    entry = glucose(client, patient, 320)
    url = f"/api/v1/patients/me/logs/{entry['id']}"
    edited = client.patch(url, json={"value": 120}, headers=_headers(patient))
    assert edited.status_code == 200
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "open_alert" not in row["flags"]
    edited = client.patch(url, json={"value": 330}, headers=_headers(patient))
    assert (
        "open_alert" in assert_consistent(client, factory, mongo, provider, cid, patient)["flags"]
    )
    assert client.delete(url, headers=_headers(patient)).status_code == 204
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "open_alert" not in row["flags"] and row["last_logged_at"] is None


# --- alerts outside the logging path -------------------------------------------------------


def test_acknowledging_and_removing_a_rule_move_every_view(client, factory, mongo, clinic_patient):
    provider, cid, patient = clinic_patient
    rid = add_rule(client, factory, provider, patient)
    glucose(client, patient, 320)
    alert = mongo.alerts.find_one({"patient": patient.pk})
    acked = client.post(
        f"/api/v1/patients/{patient.pk}/alerts/{alert['_id']}/acknowledge",
        json={"note": "called her"},
        headers=factory.headers(provider),
    )
    assert acked.status_code == 200
    assert (
        "open_alert"
        not in assert_consistent(client, factory, mongo, provider, cid, patient)["flags"]
    )
    # A second rule's alert, then the rule removed: resolved, and every view follows.
    second = add_rule(client, factory, provider, patient, value=300, severity="urgent")
    glucose(client, patient, 350, minutes_ago=5)
    assert (
        "open_alert" in assert_consistent(client, factory, mongo, provider, cid, patient)["flags"]
    )
    removed = client.delete(
        f"/api/v1/patients/{patient.pk}/alert-rules/{second}", headers=factory.headers(provider)
    )
    assert removed.status_code == 204
    assert (
        "open_alert"
        not in assert_consistent(client, factory, mongo, provider, cid, patient)["flags"]
    )
    assert rid


# --- agreements, check-ups, memberships, clinics, profiles ----------------------------------


def test_an_agreement_completed_leaves_the_conditions_and_check_ups(
    client, factory, mongo, clinic_patient
):
    provider, cid, patient = clinic_patient
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "overdue_checkup" in row["flags"]
    assert f"{cid}:type 2 diabetes" in figures(mongo, cid)
    [agreement] = client.get(
        f"/api/v1/patients/{patient.pk}/agreements", headers=factory.headers(provider)
    ).get_json()
    done = client.post(
        f"/api/v1/patients/{patient.pk}/agreements/{agreement['id']}/complete",
        headers=factory.headers(provider),
    )
    assert done.status_code == 200, done.get_json()
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "overdue_checkup" not in row["flags"] and row["next_checkup"] is None
    after = figures(mongo, cid)
    assert f"{cid}:type 2 diabetes" not in after and "gaps" not in after[f"{cid}:*"]


def test_a_check_up_done_closes_the_gap_in_every_view(client, factory, mongo, clinic_patient):
    provider, cid, patient = clinic_patient
    [agreement] = client.get(
        f"/api/v1/patients/{patient.pk}/agreements", headers=factory.headers(provider)
    ).get_json()
    checkup = agreement["checkups"][0]["id"]
    done = client.post(
        f"/api/v1/patients/{patient.pk}/checkups/{checkup}/completions",
        json={"done_on": utcnow().date().isoformat(), "result": "6.8 %"},
        headers=factory.headers(provider),
    )
    assert done.status_code == 201, done.get_json()
    row = assert_consistent(client, factory, mongo, provider, cid, patient)
    assert "overdue_checkup" not in row["flags"]
    assert figures(mongo, cid)[f"{cid}:*"]["gaps"]["hba1c"] == {"eligible": 1}


def test_a_membership_ended_leaves_the_panel_and_the_clinic(client, factory, mongo, clinic_patient):
    provider, cid, patient = clinic_patient
    colleague = factory.provider()
    join(client, factory, colleague, patient)
    assert panel_row(client, factory.headers(colleague), patient) is not None
    members = client.get("/api/v1/patients/me/care-team", headers=_headers(patient)).get_json()
    mine = next(m for m in members if m["provider"]["id"] == str(provider.pk))
    ended = client.delete(f"/api/v1/patients/me/care-team/{mine['id']}", headers=_headers(patient))
    assert ended.status_code == 204
    assert assert_consistent(client, factory, mongo, provider, cid, patient) is None
    assert normalised(mongo, cid) == {}
    assert client.get(PANEL, headers=factory.headers(provider)).get_json() == []
    assert panel_row(client, factory.headers(colleague), patient) is not None


def test_a_provider_placed_in_a_clinic_brings_their_patients(client, factory, mongo):
    provider, newcomer = factory.provider(), factory.provider()
    cid = make_clinic(client, factory, provider)
    patient = enrol(client, factory, newcomer, conditions=("hypertension",))
    assert normalised(mongo, cid) == {}
    placed = client.post(
        f"/api/v1/admin/clinics/{cid}/providers",
        json={"provider_id": str(newcomer.pk)},
        headers=factory.headers(factory.admin()),
    )
    assert placed.status_code == 201
    assert assert_population_agrees(mongo, cid)[f"{cid}:hypertension"]["patients"] == 1
    assert mongo.population_profiles.find_one({"_id": patient.pk})["clinics"] == {cid: 1}


def test_a_profile_change_reaches_the_copies_and_replans_only_for_the_clock(
    client, factory, mongo, clinic_patient
):
    provider, cid, patient = clinic_patient
    planned = sorted(o["due_at"] for o in mongo.reminder_occurrences.find({"patient": patient.pk}))
    renamed = client.patch("/api/v1/me", json={"name": "Ana Lima"}, headers=_headers(patient))
    assert renamed.status_code == 200
    assert mongo.population_profiles.find_one({"_id": patient.pk})["name"] == "Ana Lima"
    after = sorted(o["due_at"] for o in mongo.reminder_occurrences.find({"patient": patient.pk}))
    assert after == planned
    # A zone whose clock differs from the patient's now (Tokyo is the midday zone at 03:00 UTC).
    zone = next(z for z in ("Asia/Tokyo", "America/Sao_Paulo") if _offset(z) != _offset(patient))
    moved = client.patch("/api/v1/me", json={"timezone": zone}, headers=_headers(patient))
    assert moved.get_json()["timezone"] == zone
    assert mongo.adherence_summaries.find_one({"_id": patient.pk})["tz"] == zone
    assert mongo.population_profiles.find_one({"_id": patient.pk})["tz"] == zone
    replanned = sorted(
        o["due_at"] for o in mongo.reminder_occurrences.find({"patient": patient.pk})
    )
    assert replanned != planned
    assert_consistent(client, factory, mongo, provider, cid, patient)
