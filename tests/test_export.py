"""The FHIR R4 export through HTTP: it validates against HL7's R4 JSON schema and carries
our values over (readings, targets, check-ups, caregivers, medications, alerts)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from api.clock import utcnow
from api.models.agreement import Checkup
from api.services.flows import checkups as checkup_flow
from api.services.records import export, fhir_values
from tests.fhir_schema import validate
from tests.log_helpers import GLUCOSE, WALK, WEIGHT, entry, plan, post
from tests.test_foundation import assert_problem

HBA1C = {"id": "c_hba1c", "name": "HbA1c", "code": "4548-4", "interval": "P3M"}
LOW = {
    "measure": "blood_glucose",
    "kind": "threshold",
    "op": "below",
    "value": 70,
    "unit": "mg/dL",
    "count": 1,
    "severity": "urgent",
    "notify": ["primary", "patient"],
}


def url(p, pid=None):
    return f"/api/v1/patients/{pid or p.patient.pk}/export"


def fetch(client, p, headers=None, pid=None) -> dict:
    response = client.get(url(p, pid), headers=headers or p.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == export.FHIR_JSON
    document = json.loads(response.get_data(as_text=True))
    validate(document)
    return document


def of_type(document: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == kind]


def by_identifier(resources: list[dict], value: str) -> dict:
    (found,) = [r for r in resources if any(i["value"] == value for i in r["identifier"])]
    return found


@pytest.fixture
def p(factory):
    """A patient in Chicago with glucose, walking and weight goals and an HbA1c check-up."""
    p = plan(factory, goals=(GLUCOSE, WALK, WEIGHT), tz="America/Chicago", name="Ana Ruiz")
    p.agreement.content.checkups = [Checkup(**HBA1C)]
    p.agreement.save()
    return p


def test_the_export_validates_and_round_trips_a_glucose_reading(client, p):
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    reading = entry(p, goal="g_glucose", value=7.5, unit="mmol/L", at=at, note="after lunch")
    assert post(client, p, reading).status_code == 201
    assert post(client, p, entry(p, goal="g_weight", value=88.2)).status_code == 201

    document = fetch(client, p)

    assert document["resourceType"] == "Bundle" and document["type"] == "collection"
    urls = [e["fullUrl"] for e in document["entry"]]
    assert len(urls) == len(set(urls))
    for e in document["entry"]:
        resource = e["resource"]
        assert (
            e["fullUrl"] == f"http://localhost/fhir/R4/{resource['resourceType']}/{resource['id']}"
        )
    (patient,) = of_type(document, "Patient")
    assert patient["name"] == [{"text": "Ana Ruiz"}]
    assert patient["identifier"][0]["value"] == str(p.patient.pk)

    glucose = by_identifier(of_type(document, "Observation"), reading["id"])
    assert glucose["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "2339-0",
        "display": "Blood glucose",
    }
    assert glucose["valueQuantity"] == {
        "value": 7.5,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert glucose["effectiveDateTime"] == at.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert patient["id"] == str(p.patient.pk)
    assert glucose["subject"]["reference"] == f"Patient/{patient['id']}"
    assert glucose["note"] == [{"text": "after lunch"}]
    assert glucose["status"] == "final"
    # 7.5 mmol/L is 135 mg/dL: inside the goal's 70 to 180.
    assert glucose["interpretation"][0]["coding"][0]["code"] == "N"
    weight = [o for o in of_type(document, "Observation") if o["code"]["text"] == "Body weight"]
    assert weight[0]["code"]["coding"][0]["code"] == "29463-7"
    assert weight[0]["valueQuantity"]["code"] == "kg"


def test_goals_care_plan_and_check_up_activity(client, p):
    document = fetch(client, p)

    (plan_resource,) = of_type(document, "CarePlan")
    assert plan_resource["status"] == "active" and plan_resource["intent"] == "plan"
    assert plan_resource["title"] == "Type 2 diabetes plan"
    goals = of_type(document, "Goal")
    assert len(goals) == 3
    referenced = {g["reference"] for g in plan_resource["goal"]}
    assert referenced == {f"Goal/{g['id']}" for g in goals}
    glucose = by_identifier(goals, "g_glucose")
    assert glucose["lifecycleStatus"] == "active"
    assert glucose["description"] == {"text": "Glucose between 70 and 180"}
    (target,) = glucose["target"]
    assert target["measure"]["coding"][0]["code"] == "2339-0"
    assert target["detailRange"]["low"]["value"] == 70
    assert target["detailRange"]["high"]["value"] == 180
    assert target["detailRange"]["high"]["code"] == "mg/dL"
    walk = by_identifier(goals, "g_walk")
    assert walk["target"][0]["detailRange"] == {"low": fhir_values.quantity(30, "min")}
    assert walk["note"] == [{"text": "Counted a day."}]
    weight = by_identifier(goals, "g_weight")
    assert weight["target"][0]["detailRange"] == {"high": fhir_values.quantity(90, "kg")}

    (activity,) = plan_resource["activity"]
    detail = activity["detail"]
    assert detail["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "4548-4",
        "display": "HbA1c",
    }
    assert detail["scheduledTiming"]["repeat"] == {"frequency": 1, "period": 3, "periodUnit": "mo"}
    assert detail["status"] == "scheduled"


def test_a_check_up_done_is_a_procedure_and_the_activitys_outcome(client, p):
    done_on = (datetime.now(UTC) - timedelta(days=20)).date()
    completion = checkup_flow.record_completion(
        patient_id=p.patient.pk,
        checkup_id="c_hba1c",
        data={"done_on": done_on, "result": "6.9 %", "note": "fasting"},
        recorded_by=p.provider.pk,
        recorded_by_role="provider",
        self_reported=False,
        now=utcnow(),
    )

    document = fetch(client, p)

    procedure = by_identifier(of_type(document, "Procedure"), str(completion.pk))
    assert procedure["status"] == "completed"
    assert procedure["performedDateTime"] == done_on.isoformat()
    assert procedure["code"]["coding"][0]["code"] == "4548-4"
    assert procedure["outcome"] == {"text": "6.9 %"}
    assert procedure["note"] == [{"text": "fasting"}]
    practitioner = by_identifier(of_type(document, "Practitioner"), str(p.provider.pk))
    assert procedure["performer"] == [
        {"actor": {"reference": f"Practitioner/{practitioner['id']}"}}
    ]
    (plan_resource,) = of_type(document, "CarePlan")
    assert procedure["basedOn"] == [{"reference": f"CarePlan/{plan_resource['id']}"}]
    (activity,) = plan_resource["activity"]
    assert activity["outcomeReference"] == [{"reference": f"Procedure/{procedure['id']}"}]


def test_care_team_and_caregivers_active_only(client, factory, p):
    ended_specialist = factory.provider(name="Dr Past", specialty="cardiology")
    factory.membership(p.patient, ended_specialist, status="ended", role="specialist")
    pending = factory.provider(name="Dr Pending")
    factory.membership(p.patient, pending, status="pending", role="specialist")
    mother = factory.patient(name="Maria Ruiz")
    factory.grant(p.patient, mother, permissions=("view", "log"))
    former = factory.patient(name="Former Helper")
    factory.grant(p.patient, former, status="ended")
    lapsed = factory.patient(name="Lapsed Helper")
    factory.grant(p.patient, lapsed, expires_on=(datetime.now(UTC) - timedelta(days=3)).date())

    document = fetch(client, p)

    (related,) = of_type(document, "RelatedPerson")
    assert related["name"] == [{"text": "Maria Ruiz"}]
    assert related["identifier"][0]["value"] == str(mother.pk)
    assert related["relationship"][0]["coding"][0]["code"] == "PRN"
    assert related["patient"]["reference"] == f"Patient/{p.patient.pk}"
    (team,) = of_type(document, "CareTeam")
    members = {m["member"]["reference"]: m for m in team["participant"]}
    assert team["id"] == str(p.patient.pk)
    practitioners = {r["name"][0]["text"]: r for r in of_type(document, "Practitioner")}
    assert set(practitioners) == {p.provider.name, "Dr Past"}
    past = members[f"Practitioner/{practitioners['Dr Past']['id']}"]
    assert "end" in past["period"] and {"text": "cardiology"} in past["role"]
    assert "end" not in members[f"Practitioner/{practitioners[p.provider.name]['id']}"]["period"]


def test_a_caregivers_reading_names_them_and_is_exported_to_them(client, factory, p):
    mother = factory.patient(name="Maria Ruiz")
    factory.grant(p.patient, mother, permissions=("view", "log"))
    reading = entry(p, goal="g_walk", value=45)
    assert (
        post(client, p, reading, pid=p.patient.pk, headers=factory.headers(mother)).status_code
        == 201
    )

    document = fetch(client, p, headers=factory.headers(mother))

    observation = by_identifier(of_type(document, "Observation"), reading["id"])
    (related,) = of_type(document, "RelatedPerson")
    assert observation["performer"] == [{"reference": f"RelatedPerson/{related['id']}"}]


def test_medications_and_unresolved_alerts(client, factory, mongo, p):
    provider = factory.headers(p.provider)
    metformin = {
        "name": "Metformin",
        "dose": "500 mg",
        "route": "oral",
        "frequency": "twice daily",
        "start_on": "2024-01-10",
        "reason": "type 2 diabetes",
    }
    created = client.post(
        f"/api/v1/patients/{p.patient.pk}/medications", json=metformin, headers=provider
    )
    assert created.status_code == 201, created.get_json()
    rule = client.post(f"/api/v1/patients/{p.patient.pk}/alert-rules", json=LOW, headers=provider)
    assert rule.status_code == 201, rule.get_json()
    assert post(client, p, entry(p, goal="g_glucose", value=52)).status_code == 201
    assert mongo.alerts.count_documents({"status": "open"}) == 1

    document = fetch(client, p)

    (statement,) = of_type(document, "MedicationStatement")
    assert statement["status"] == "active"
    assert statement["medicationCodeableConcept"]["coding"][0]["code"] == "A10BA02"
    assert statement["medicationCodeableConcept"]["text"] == "Metformin"
    assert statement["effectivePeriod"] == {"start": "2024-01-10"}
    assert statement["dosage"][0]["text"] == "500 mg, twice daily"
    practitioner = by_identifier(of_type(document, "Practitioner"), str(p.provider.pk))
    assert statement["informationSource"] == {"reference": f"Practitioner/{practitioner['id']}"}
    (flag,) = of_type(document, "Flag")
    assert flag["status"] == "active"
    assert flag["code"]["text"].startswith("Urgent alert: Blood glucose below 70")
    low = [o for o in of_type(document, "Observation") if o["valueQuantity"]["value"] == 52]
    assert low[0]["interpretation"][0]["coding"][0]["code"] == "A"

    # Back in range: the alert resolves and leaves the export.
    assert post(client, p, entry(p, goal="g_glucose", value=120)).status_code == 201
    assert of_type(fetch(client, p), "Flag") == []


def test_a_year_of_entries_streams_in_order(client, factory, p):
    start = datetime.now(UTC) - timedelta(days=365)
    batch = [
        entry(p, goal="g_walk", value=20 + n % 30, at=start + timedelta(hours=6 * n))
        for n in range(4 * 365)
    ]
    for first in range(0, len(batch), 500):
        response = client.post(
            f"/api/v1/patients/{p.patient.pk}/logs/batch",
            json={"entries": batch[first : first + 500]},
            headers=p.headers,
        )
        assert response.status_code == 200, response.get_json()

    response = client.get(url(p), headers=p.headers)
    assert response.is_streamed
    document = json.loads(response.get_data(as_text=True))
    validate(document)
    observations = of_type(document, "Observation")
    assert len(observations) == len(batch)
    times = [o["effectiveDateTime"] for o in observations]
    assert times == sorted(times)


def test_the_team_and_caregivers_read_it_others_get_404(client, factory, p):
    assert fetch(client, p, headers=factory.headers(p.provider))
    assert fetch(client, p, pid="me")
    stranger = factory.provider()
    assert_problem(client.get(url(p), headers=factory.headers(stranger)), 404)
    other = factory.patient()
    assert_problem(client.get(url(p), headers=factory.headers(other)), 404)
    ended = factory.patient()
    factory.grant(p.patient, ended, status="ended")
    assert_problem(client.get(url(p), headers=factory.headers(ended)), 404)
    assert_problem(client.get(url(p)), 401)
