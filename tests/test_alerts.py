"""Alerts through HTTP: boundaries, counts, resolution, bursts, races, who hears, worklist."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.services.tracking import measures
from tests.log_helpers import GLUCOSE, entry, phone_in_quiet_hours, plan, post

PEAK = {
    "id": "g_peak",
    "kind": "monitoring",
    "title": "Peak flow every morning",
    "measure": "peak_flow",
    "unit": "L/min",
    "target": {"op": "at_least", "value": 300},
    "period": "day",
}
SYSTOLIC = {
    "id": "g_bp",
    "kind": "monitoring",
    "title": "Morning blood pressure",
    "measure": "blood_pressure_systolic",
    "unit": "mmHg",
    "target": {"op": "at_most", "value": 135},
    "period": "day",
}


def rule(client, factory, p, **fields):
    body = {
        "measure": "blood_glucose",
        "kind": "threshold",
        "severity": "warning",
        "notify": ["primary", "patient"],
        **fields,
    }
    response = client.post(
        f"/api/v1/patients/{p.patient.pk}/alert-rules",
        json=body,
        headers=factory.headers(p.provider),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def glucose(client, p, value, *, hours_ago=1, unit=None):
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    extra = {"unit": unit} if unit else {}
    response = post(client, p, entry(p, goal="g_glucose", value=value, at=at, **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def open_alerts(mongo):
    return list(mongo.alerts.find({"status": "open"}))


@pytest.fixture
def p(factory):
    return plan(factory, goals=(GLUCOSE, PEAK, SYSTOLIC))


def test_threshold_fires_past_its_boundary_not_at_it(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=300, unit="mg/dL")
    glucose(client, p, 300, hours_ago=3)
    assert open_alerts(mongo) == []
    glucose(client, p, 300.1, hours_ago=2)
    [alert] = open_alerts(mongo)
    assert alert["severity"] == "warning" and alert["readings"][0]["value"] == 300.1


def test_below_fires_past_its_boundary(client, factory, mongo, p):
    rule(client, factory, p, op="below", value=70, unit="mg/dL")
    glucose(client, p, 70, hours_ago=3)
    assert open_alerts(mongo) == []
    glucose(client, p, 69.9, hours_ago=2)
    assert len(open_alerts(mongo)) == 1


def test_a_rule_in_mmol_meets_readings_in_mg(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=16.65, unit="mmol/L")
    boundary = 16.65 * measures.MGDL_PER_MMOLL  # 300.003 mg/dL
    glucose(client, p, 300, hours_ago=5)  # under the boundary, though "300" sounds like it
    glucose(client, p, 16.65, hours_ago=4, unit="mmol/L")  # exactly the boundary
    assert boundary > 300 and open_alerts(mongo) == []
    glucose(client, p, 16.66, hours_ago=3, unit="mmol/L")
    [alert] = open_alerts(mongo)
    listed = client.get(f"/api/v1/patients/{p.patient.pk}/alerts", headers=p.headers).get_json()
    assert listed[0]["readings"][0] == {
        "id": alert["readings"][0]["uid"],
        "value": 16.66,
        "unit": "mmol/L",
        "occurred_at": listed[0]["readings"][0]["occurred_at"],
    }


def test_a_rule_in_mg_meets_readings_in_mmol(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=300, unit="mg/dL")
    glucose(client, p, 300 / measures.MGDL_PER_MMOLL, hours_ago=3, unit="mmol/L")
    assert open_alerts(mongo) == []
    glucose(client, p, 16.66, hours_ago=2, unit="mmol/L")  # 300.18 mg/dL
    assert len(open_alerts(mongo)) == 1


def test_count_within_a_window(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=300, unit="mg/dL", count=2, within="P3D")
    glucose(client, p, 350, hours_ago=24 * 8)
    glucose(client, p, 350, hours_ago=24 * 4)  # four days apart: not twice within three
    assert open_alerts(mongo) == []
    glucose(client, p, 120, hours_ago=24 * 2)
    glucose(client, p, 320, hours_ago=24 * 1.5)  # 2.5 days after the last high one
    [alert] = open_alerts(mongo)
    assert [r["value"] for r in alert["readings"]] == [350, 320]


def test_resolution_and_firing_again(client, factory, mongo, p):
    rid = rule(client, factory, p, op="below", value=70, unit="mg/dL", advice="Eat 15 g.")
    glucose(client, p, 60, hours_ago=5)
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["open_alert"] is True and summary["open_alerts"]["warning"] == 1
    glucose(client, p, 65, hours_ago=4)  # still low: the same alert
    assert mongo.alerts.count_documents({}) == 1
    glucose(client, p, 110, hours_ago=3)
    first = mongo.alerts.find_one()
    assert first["status"] == "resolved" and first["resolution"] == "back_in_range"
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["open_alert"] is False and summary["open_alerts"]["warning"] == 0
    assert (
        mongo.alert_rules.find_one()["open_alert"] is None
        if "open_alert" in (mongo.alert_rules.find_one())
        else True
    )
    glucose(client, p, 55, hours_ago=2)
    assert mongo.alerts.count_documents({"rule": first["rule"]}) == 2
    assert len(open_alerts(mongo)) == 1
    listed = client.get(
        f"/api/v1/patients/{p.patient.pk}/alerts?status=resolved", headers=p.headers
    ).get_json()
    assert [a["id"] for a in listed] == [str(first["_id"])]
    assert listed[0]["rule_id"] == rid and listed[0]["advice"] == "Eat 15 g."
    # Two alerts, each told once to the provider and once to the patient.
    assert mongo.notifications.count_documents({"kind": "alert"}) == 4


def test_an_older_reading_does_not_reopen_or_resolve(client, factory, mongo, p):
    rule(client, factory, p, op="below", value=70, unit="mg/dL")
    glucose(client, p, 120, hours_ago=1)
    glucose(client, p, 50, hours_ago=30)  # backfilled: the measure is in range now
    assert open_alerts(mongo) == []


def test_deleting_or_editing_the_reading_resolves(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=300, unit="mg/dL")
    uid = glucose(client, p, 400, hours_ago=2)
    assert len(open_alerts(mongo)) == 1
    url = f"/api/v1/patients/me/logs/{uid}"
    assert client.delete(url, headers=p.headers).status_code == 204
    assert mongo.alerts.find_one()["status"] == "resolved"
    uid = glucose(client, p, 400, hours_ago=1)
    assert len(open_alerts(mongo)) == 1
    edited = client.patch(f"/api/v1/patients/me/logs/{uid}", json={"value": 150}, headers=p.headers)
    assert edited.status_code == 200
    assert open_alerts(mongo) == []
    edited = client.patch(f"/api/v1/patients/me/logs/{uid}", json={"value": 450}, headers=p.headers)
    assert len(open_alerts(mongo)) == 1


def _batch(client, p, values, *, start_hours_ago):
    entries = [
        entry(
            p,
            goal="g_glucose",
            value=value,
            at=datetime.now(UTC) - timedelta(hours=start_hours_ago) + timedelta(minutes=i),
        )
        for i, value in enumerate(values)
    ]
    response = client.post(
        "/api/v1/patients/me/logs/batch", json={"entries": entries}, headers=p.headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == len(values)
    return response


def test_a_burst_of_fifty_opens_one_alert_and_tells_once(client, factory, mongo, p):
    rule(client, factory, p, op="above", value=300, unit="mg/dL", count=2, within="P3D")
    _batch(client, p, [400] * 50, start_hours_ago=5)
    [alert] = open_alerts(mongo)
    assert len(alert["readings"]) == 2
    notes = list(mongo.notifications.find({"kind": "alert"}))
    assert sorted(n["recipient"] for n in notes) == sorted([p.provider.pk, p.patient.pk])
    _batch(client, p, [410] * 50, start_hours_ago=4)
    assert mongo.alerts.count_documents({}) == 1
    assert mongo.notifications.count_documents({"kind": "alert"}) == 2


def test_the_offline_batch_is_evaluated(client, factory, mongo, p):
    """A phone offline for two days sends its readings at once: judged by when they happened."""
    rule(client, factory, p, op="above", value=300, unit="mg/dL", count=2, within="P3D")
    _batch(client, p, [150, 340, 130], start_hours_ago=48)
    assert open_alerts(mongo) == []  # one high, and the measure is back in range
    _batch(client, p, [140, 360, 330], start_hours_ago=47)  # two highs within 3 days
    [alert] = open_alerts(mongo)
    assert [r["value"] for r in alert["readings"]] == [360, 330]
    _batch(client, p, [140, 120], start_hours_ago=0.5)
    assert open_alerts(mongo) == []


def test_two_concurrent_readings_open_one_alert(app, factory, mongo, p):
    rule(app.test_client(), factory, p, op="above", value=300, unit="mg/dL")
    # (A patient's very first two entries at once trip logs._allocate: see the report.)
    glucose(app.test_client(), p, 120, hours_ago=2)
    barrier = threading.Barrier(2)
    statuses = []

    def send(value):
        client = app.test_client()
        body = entry(p, goal="g_glucose", value=value, at=datetime.now(UTC) - timedelta(minutes=1))
        barrier.wait()
        statuses.append(post(client, p, body).status_code)

    threads = [threading.Thread(target=send, args=(v,)) for v in (400, 410)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201, 201]
    assert len(open_alerts(mongo)) == 1
    assert mongo.notifications.count_documents({"kind": "alert"}) == 2
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["open_alerts"]["warning"] == 1


def test_zone_rule_yellow_then_red(client, factory, mongo, p):
    rule(
        client,
        factory,
        p,
        measure="peak_flow",
        kind="zone",
        unit="L/min",
        personal_best=400,
        yellow_below=80,
        red_below=50,
    )

    def peak(value, minutes_ago):
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        assert post(client, p, entry(p, goal="g_peak", value=value, at=at)).status_code == 201

    peak(320, 50)  # exactly 80 %: green
    assert open_alerts(mongo) == []
    peak(319.9, 40)
    [alert] = open_alerts(mongo)
    assert alert["level"] == "yellow" and alert["severity"] == "warning"
    peak(200, 30)  # exactly 50 %: still yellow
    assert open_alerts(mongo)[0]["level"] == "yellow"
    peak(199.9, 20)
    [alert] = open_alerts(mongo)
    assert alert["level"] == "red" and alert["severity"] == "urgent"
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["open_alerts"] == {"warning": 0, "urgent": 1}
    # Told again when it turned red: twice to each of the two recipients.
    assert mongo.notifications.count_documents({"kind": "alert"}) == 4
    peak(390, 10)
    assert open_alerts(mongo) == []


def test_systolic_at_least_includes_the_boundary(client, factory, mongo, p):
    rule(
        client,
        factory,
        p,
        measure="blood_pressure_systolic",
        op="at_least",
        value=180,
        unit="mmHg",
        severity="urgent",
        notify=["primary", "specialist", "patient"],
    )

    def systolic(value, minutes_ago):
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        assert post(client, p, entry(p, goal="g_bp", value=value, at=at)).status_code == 201

    systolic(179.9, 20)
    assert open_alerts(mongo) == []
    systolic(180, 10)
    assert open_alerts(mongo)[0]["severity"] == "urgent"


def test_who_hears_inbox_push_and_quiet_hours(client, factory, mongo, p):
    specialist = factory.provider()
    factory.membership(p.patient, specialist, role="specialist")
    nurse = factory.provider()
    factory.membership(p.patient, nurse, role="nurse")
    phone_in_quiet_hours(client, p, platform="ios", token="phone-token-1234")
    advice = "Take 15 g of fast-acting carbohydrate and re-check in 15 minutes."
    rule(client, factory, p, op="below", value=70, unit="mg/dL", advice=advice)
    rule(
        client,
        factory,
        p,
        op="below",
        value=54,
        unit="mg/dL",
        severity="urgent",
        notify=["primary", "specialist", "patient"],
    )
    glucose(client, p, 50, hours_ago=1)
    notes = list(mongo.notifications.find({"kind": "alert"}))
    by_recipient = {}
    for note in notes:
        by_recipient.setdefault(note["recipient"], []).append(note)
    assert sorted(len(v) for v in by_recipient.values()) == [1, 2, 2]
    assert nurse.pk not in by_recipient and len(by_recipient[specialist.pk]) == 1
    mine = {n["title"].split(":")[0]: n for n in by_recipient[p.patient.pk]}
    assert mine["Warning"]["body"] == advice
    # Quiet hours hold back the warning's push, not the urgent one's.
    [warning] = mongo.outbox.find({"notification": mine["Warning"]["_id"]})
    [urgent] = mongo.outbox.find({"notification": mine["Urgent"]["_id"]})
    assert warning["due_at"] > urgent["created_at"] + timedelta(minutes=30)
    assert urgent["due_at"] == urgent["created_at"]
    # The patient's inbox holds their own two; the providers' are not in it.
    inbox = client.get("/api/v1/patients/me/notifications", headers=p.headers).get_json()
    assert sorted(n["title"].split(":")[0] for n in inbox) == ["Urgent", "Warning"]


def test_acknowledge_records_who_when_note(client, factory, mongo, p):
    rule(client, factory, p, op="below", value=70, unit="mg/dL")
    glucose(client, p, 60)
    alert = open_alerts(mongo)[0]
    url = f"/api/v1/patients/{p.patient.pk}/alerts/{alert['_id']}/acknowledge"
    assert client.post(url, json={}, headers=p.headers).status_code == 403
    bad = client.post(url, json={"note": "x" * 1001}, headers=factory.headers(p.provider))
    assert bad.status_code == 422 and "note" in bad.get_json()["errors"]
    response = client.post(
        url, json={"note": "Called; snack taken."}, headers=factory.headers(p.provider)
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "acknowledged" and body["note"] == "Called; snack taken."
    assert body["acknowledged_by"] == str(p.provider.pk) and body["acknowledged_at"]
    stored = mongo.alerts.find_one({"_id": alert["_id"]})
    assert stored["acknowledged_by"] == p.provider.pk and stored["active"] is True
    again = client.post(url, json={}, headers=factory.headers(p.provider))
    assert again.status_code == 409 and again.get_json()["current_status"] == "acknowledged"
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["open_alert"] is False
    # Still the one alert of its rule until the measure is back in range.
    glucose(client, p, 62, hours_ago=0.5)
    assert mongo.alerts.count_documents({}) == 1
    missing = f"/api/v1/patients/{p.patient.pk}/alerts/{uuid.uuid4().hex[:24]}/acknowledge"
    assert client.post(missing, json={}, headers=factory.headers(p.provider)).status_code == 404
    other = plan(factory, goals=(GLUCOSE,))
    foreign = f"/api/v1/patients/{other.patient.pk}/alerts/{alert['_id']}/acknowledge"
    assert client.post(foreign, json={}, headers=factory.headers(p.provider)).status_code == 404


def test_worklist_is_urgent_first_and_only_my_active_patients(client, factory, mongo):
    provider = factory.provider()
    patients = []
    for membership in ("active", "active", "ended"):
        p = plan(factory, goals=(GLUCOSE,))
        factory.membership(p.patient, provider, status=membership, role="specialist")
        patients.append(p)
    first, second, former = patients
    rule(client, factory, first, op="below", value=70, unit="mg/dL")
    rule(client, factory, second, op="below", value=54, unit="mg/dL", severity="urgent")
    rule(client, factory, former, op="below", value=70, unit="mg/dL", severity="urgent")
    for p in patients:
        glucose(client, p, 50)
    response = client.get("/api/v1/alerts", headers=factory.headers(provider))
    assert response.status_code == 200
    body = response.get_json()
    assert [a["patient"]["id"] for a in body] == [str(second.patient.pk), str(first.patient.pk)]
    assert [a["severity"] for a in body] == ["urgent", "warning"]
    assert body[0]["patient"]["name"] == second.patient.name
    assert '"total": 2' in response.headers["X-Pagination"]
    # Another provider sees only their own patient's alert; patients have no worklist.
    mine = client.get("/api/v1/alerts", headers=factory.headers(first.provider)).get_json()
    assert [a["patient"]["id"] for a in mine] == [str(first.patient.pk)]
    assert client.get("/api/v1/alerts", headers=first.headers).status_code == 403
    # Acknowledged alerts leave the worklist.
    alert_id = body[0]["id"]
    url = f"/api/v1/patients/{second.patient.pk}/alerts/{alert_id}/acknowledge"
    assert client.post(url, json={}, headers=factory.headers(provider)).status_code == 200
    left = client.get("/api/v1/alerts", headers=factory.headers(provider)).get_json()
    assert [a["id"] for a in left] == [body[1]["id"]]


def test_alert_listing_filters_and_access(client, factory, mongo, p):
    rule(client, factory, p, op="below", value=70, unit="mg/dL")
    glucose(client, p, 60)
    url = f"/api/v1/patients/{p.patient.pk}/alerts"
    caregiver = factory.patient()
    factory.grant(p.patient, caregiver, permissions=("view",))
    for headers in (p.headers, factory.headers(p.provider), factory.headers(caregiver)):
        assert len(client.get(url, headers=headers).get_json()) == 1
    assert client.get(f"{url}?status=resolved", headers=p.headers).get_json() == []
    bad = client.get(f"{url}?status=closed", headers=p.headers)
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]
    assert client.get(url, headers=factory.headers(factory.provider())).status_code == 404
