"""Alert rules: who may read and write them, bad input, template defaults on activation."""

import pytest
from bson import ObjectId

from api.clock import utcnow
from api.services.alerts import rules as alert_rules
from tests.log_helpers import GLUCOSE, entry, plan, post

HIGH = {
    "measure": "blood_glucose",
    "kind": "threshold",
    "op": "above",
    "value": 300,
    "unit": "mg/dL",
    "count": 2,
    "within": "P3D",
    "severity": "warning",
    "notify": ["primary", "patient"],
}


def rules_url(p, suffix=""):
    return f"/api/v1/patients/{p.patient.pk}/alert-rules{suffix}"


def test_provider_creates_patient_and_caregiver_read(client, factory, mongo):
    p = plan(factory)
    provider = factory.headers(p.provider)
    response = client.post(rules_url(p), json=HIGH, headers=provider)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["measure"] == "blood_glucose" and body["value"] == 300 and body["count"] == 2
    assert body["enabled"] is True and body["created_by"] == str(p.provider.pk)
    stored = mongo.alert_rules.find_one({"_id": ObjectId(body["id"])})
    assert stored["patient"] == p.patient.pk and stored["within"] == "P3D"

    caregiver = factory.patient()
    factory.grant(p.patient, caregiver, permissions=("view",))
    for headers in (p.headers, factory.headers(caregiver), provider):
        listed = client.get(rules_url(p), headers=headers)
        assert listed.status_code == 200
        assert [r["id"] for r in listed.get_json()] == [body["id"]]


def test_only_the_care_team_writes_rules(client, factory, mongo):
    p = plan(factory)
    caregiver = factory.patient()
    factory.grant(p.patient, caregiver, permissions=("view", "log", "manage"))
    for headers in (p.headers, factory.headers(caregiver)):
        response = client.post(rules_url(p), json=HIGH, headers=headers)
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"
    stranger = factory.provider()
    response = client.post(rules_url(p), json=HIGH, headers=factory.headers(stranger))
    assert response.status_code == 404
    assert client.get(rules_url(p), headers=factory.headers(stranger)).status_code == 404
    assert mongo.alert_rules.count_documents({}) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measure": "blood_sugar"}, "measure"),
        ({"unit": "mmol/mol"}, "unit"),
        ({"count": 0}, "count"),
        ({"count": "2"}, "count"),
        ({"within": "3 days"}, "within"),
        ({"within": "PT3H"}, "within"),
        ({"within": None}, "within"),
        ({"severity": "critical"}, "severity"),
        ({"notify": ["nurse"]}, "notify.0"),
        ({"notify": []}, "notify"),
        ({"value": "high"}, "value"),
        ({"value": 1e9}, "value"),
        ({"value": 5000}, "value"),
        ({"op": "over"}, "op"),
        ({"advice": "x" * 501}, "advice"),
        ({"colour": "red"}, "colour"),
        ({"personal_best": 400}, "personal_best"),
    ],
)
def test_bad_rules_are_422_naming_the_field(client, factory, mongo, change, field):
    p = plan(factory)
    response = client.post(
        rules_url(p), json={**HIGH, **change}, headers=factory.headers(p.provider)
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert mongo.alert_rules.count_documents({}) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"measure": "peak_flow", "kind": "zone", "unit": "L/min"}, "personal_best"),
        (
            {
                "measure": "peak_flow",
                "kind": "zone",
                "personal_best": 400,
                "yellow_below": 40,
                "red_below": 50,
            },
            "red_below",
        ),
        ({"measure": "blood_glucose", "kind": "no_data"}, "within"),
        ({"measure": "blood_glucose", "kind": "no_data", "within": "P3D", "value": 3}, "value"),
        ({"measure": "blood_glucose", "kind": "threshold", "value": 300}, "op"),
        ({"measure": "blood_glucose", "kind": "threshold", "op": "above"}, "value"),
        ({"measure": "blood_glucose", "kind": "pattern"}, "kind"),
    ],
)
def test_kind_specific_fields(client, factory, mongo, body, field):
    p = plan(factory)
    response = client.post(rules_url(p), json=body, headers=factory.headers(p.provider))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert mongo.alert_rules.count_documents({}) == 0


def test_patch_and_delete(client, factory, mongo):
    p = plan(factory)
    provider = factory.headers(p.provider)
    rid = client.post(rules_url(p), json=HIGH, headers=provider).get_json()["id"]
    response = client.patch(
        rules_url(p, f"/{rid}"), json={"value": 16.65, "unit": "mmol/L"}, headers=provider
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["unit"] == "mmol/L" and response.get_json()["value"] == 16.65
    bad = client.patch(rules_url(p, f"/{rid}"), json={"kind": "zone"}, headers=provider)
    assert bad.status_code == 422 and "kind" in bad.get_json()["errors"]
    bad = client.patch(rules_url(p, f"/{rid}"), json={"count": -1}, headers=provider)
    assert bad.status_code == 422 and "count" in bad.get_json()["errors"]
    assert mongo.alert_rules.find_one()["value"] == 16.65
    assert client.patch(rules_url(p, f"/{rid}"), json={}, headers=p.headers).status_code == 403
    assert client.delete(rules_url(p, f"/{rid}"), headers=p.headers).status_code == 403
    assert client.delete(rules_url(p, f"/{rid}"), headers=provider).status_code == 204
    assert mongo.alert_rules.count_documents({}) == 0
    assert client.delete(rules_url(p, f"/{rid}"), headers=provider).status_code == 404
    assert client.delete(rules_url(p, "/nope"), headers=provider).status_code == 404


def test_removing_a_rule_resolves_its_open_alert(client, factory, mongo):
    p = plan(factory, goals=(GLUCOSE,))
    provider = factory.headers(p.provider)
    low = {**HIGH, "op": "below", "value": 70, "count": 1, "within": None}
    rid = client.post(rules_url(p), json=low, headers=provider).get_json()["id"]
    assert post(client, p, entry(p, goal="g_glucose", value=60)).status_code == 201
    assert mongo.alerts.find_one()["status"] == "open"
    assert client.delete(rules_url(p, f"/{rid}"), headers=provider).status_code == 204
    alert = mongo.alerts.find_one()
    assert alert["status"] == "resolved" and alert["resolution"] == "rule_removed"
    assert mongo.adherence_summaries.find_one()["flags"]["open_alert"] is False


def _accept_template(client, factory, template_id):
    patient = factory.patient()
    provider = factory.provider()
    factory.membership(patient, provider)
    base = f"/api/v1/patients/{patient.pk}/agreements"
    created = client.post(
        base, json={"template_id": template_id}, headers=factory.headers(provider)
    )
    assert created.status_code == 201, created.get_json()
    aid = created.get_json()["id"]
    proposed = client.post(f"{base}/{aid}/propose", headers=factory.headers(provider))
    assert proposed.status_code == 200, proposed.get_json()
    accepted = client.post(f"{base}/{aid}/accept", headers=factory.headers(patient))
    assert accepted.status_code == 200, accepted.get_json()
    return patient, provider


def test_template_defaults_are_created_on_activation_once(client, factory, mongo):
    patient, _ = _accept_template(client, factory, "t2-diabetes")
    stored = list(mongo.alert_rules.find({"patient": patient.pk}))
    assert len(stored) == 4
    by_origin = {r["origin"].split(":")[-1]: r for r in stored}
    assert by_origin["glucose_high"]["count"] == 2 and by_origin["glucose_high"]["value"] == 300
    assert by_origin["glucose_low"]["advice"].startswith("Take 15 g of fast-acting carbohydrate")
    assert by_origin["glucose_very_low"]["severity"] == "urgent"
    assert by_origin["glucose_no_data"]["kind"] == "no_data"
    assert alert_rules.create_defaults(patient.pk, "t2-diabetes", now=utcnow()) == 0
    assert mongo.alert_rules.count_documents({"patient": patient.pk}) == 4
    listed = client.get(
        f"/api/v1/patients/{patient.pk}/alert-rules", headers=factory.headers(patient)
    )
    assert len(listed.get_json()) == 4


def test_template_zone_rule_waits_for_a_personal_best(client, factory, mongo):
    patient, provider = _accept_template(client, factory, "asthma")
    rule = mongo.alert_rules.find_one({"patient": patient.pk})
    assert rule["kind"] == "zone" and rule["enabled"] is False
    url = f"/api/v1/patients/{patient.pk}/alert-rules/{rule['_id']}"
    response = client.patch(url, json={"personal_best": 450}, headers=factory.headers(provider))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["enabled"] is True
    assert mongo.alert_rules.find_one({"_id": rule["_id"]})["personal_best"] == 450
