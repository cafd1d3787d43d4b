"""Shared set-up of the FHIR API tests: a patient with a record of every kind."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.clock import utcnow
from api.models.agreement import Checkup
from api.models.alert import Alert
from api.models.message import Message
from api.services.flows import checkups as checkup_flow
from api.services.records import fhir_values
from api.services.tracking import logs
from tests.fhir_schema import validate
from tests.log_helpers import GLUCOSE, WALK, WEIGHT, Plan, entry, plan, post
from tests.test_export import HBA1C, LOW
from tests.test_medications import METFORMIN

BASE = "/fhir/R4"
FHIR_JSON = "application/fhir+json"


@dataclass
class Record:
    """A patient's record with one of everything, and the ids to read it by."""

    plan: Plan
    caregiver: object
    ids: dict  # resource type → the id of one resource of it


def record(client, factory) -> Record:
    p = plan(factory, goals=(GLUCOSE, WALK, WEIGHT), name="Ana Ruiz")
    p.agreement.content.checkups = [Checkup(**HBA1C)]
    p.agreement.save()
    provider = factory.headers(p.provider)
    pid = p.patient.pk
    mother = factory.patient(name="Maria Ruiz")
    grant = factory.grant(p.patient, mother, permissions=("view", "log"))
    done = checkup_flow.record_completion(
        patient_id=pid,
        checkup_id="c_hba1c",
        data={"done_on": (datetime.now(UTC) - timedelta(days=20)).date(), "result": "6.9 %"},
        recorded_by=p.provider.pk,
        recorded_by_role="provider",
        self_reported=False,
        now=utcnow(),
    )
    med = client.post(f"/api/v1/patients/{pid}/medications", json=METFORMIN, headers=provider)
    assert med.status_code == 201, med.get_json()
    rule = client.post(f"/api/v1/patients/{pid}/alert-rules", json=LOW, headers=provider)
    assert rule.status_code == 201, rule.get_json()
    low = entry(p, goal="g_glucose", value=52)
    assert post(client, p, low).status_code == 201
    message = client.post(
        f"/api/v1/patients/{pid}/messages", json={"body": "How are you?"}, headers=provider
    )
    assert message.status_code == 201, message.get_json()
    observation = logs.entries().find_one({"patient": pid, "uid": low["id"]})
    ids = {
        "Patient": str(pid),
        "CarePlan": str(p.agreement.pk),
        "Goal": fhir_values.goal_id(p.agreement.pk, "g_glucose"),
        "CareTeam": str(pid),
        "Observation": str(observation["_id"]),
        "Procedure": str(done.pk),
        "MedicationStatement": med.get_json()["id"],
        "Flag": str(Alert.objects(patient=pid).first().pk),
        "RelatedPerson": str(grant.pk),
        "Communication": str(Message.objects(patient=pid).first().pk),
    }
    return Record(p, mother, ids)


def fhir_get(client, path: str, headers: dict, status: int = 200, **kw):
    response = client.get(f"{BASE}/{path}", headers=headers, **kw)
    assert response.status_code == status, response.get_data(as_text=True)
    if status != 304:
        assert response.mimetype == FHIR_JSON
    body = response.get_json() if status != 304 else None
    if body is not None:
        validate(body)
    return response, body


def outcome(response, status: int, expression: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    body = response.get_json()
    validate(body)
    assert body["resourceType"] == "OperationOutcome"
    if expression is not None:
        assert body["issue"][0]["expression"] == [expression]
        assert expression in body["issue"][0]["diagnostics"]
    return body
