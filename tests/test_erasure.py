"""Erasing an account through HTTP: the password confirms it, every token stops working, and
no document in any collection holds the patient's id afterwards, but one access-log line.

The patient's records are made by the BOLA matrix's `World` (a POST to every patient-scoped
route, as the patient and as the provider), so a route added later adds its collection here.
"""

import json
import uuid

import bson
import pytest

from api.services.records.erasure import ERASED, ERASED_ACTION, ERASED_NAME
from tests.factories import PASSWORD
from tests.log_helpers import GLUCOSE, WALK
from tests.test_access_matrix import World, snapshot
from tests.test_foundation import assert_problem
from tests.test_population import enrol, make_clinic

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


def erase(client, headers, password=PASSWORD, pid="me"):
    return client.delete(f"/api/v1/patients/{pid}", json={"password": password}, headers=headers)


def mentions(mongo, patient_id) -> list[tuple[str, dict]]:
    """Every stored document holding the id, as an ObjectId or as text (in any field, keys
    and binary values included)."""
    needles = (patient_id.binary, str(patient_id).encode())
    found = []
    for name in sorted(mongo.list_collection_names()):
        for doc in mongo[name].find():
            raw = bson.encode(doc)
            if any(needle in raw for needle in needles):
                found.append((name, doc))
    return found


def log(client, headers, pid, agreement, goal_id, value, **extra):
    body = {
        "id": str(uuid.uuid4()),
        "agreement_id": str(agreement.pk),
        "goal_id": goal_id,
        "occurred_at": "2026-01-01T10:00:00Z",
        "value": value,
    }
    response = client.post(f"/api/v1/patients/{pid}/logs", json=body, headers={**headers, **extra})
    assert response.status_code == 201, response.get_json()
    return body


class Family:
    """The World's patient, with logs, an alert, a medication, a device, a caregiver of
    their own, and a son they care for (whose records must survive their erasure)."""

    def __init__(self, app, client, mongo, factory):
        self.world = World(app, client, mongo, factory)
        self.client, self.factory = client, factory
        w = self.world
        self.patient, self.pcp = w.patient, w.pcp
        self.agreement = factory.agreement(
            self.patient, self.pcp, goals=[dict(GLUCOSE), dict(WALK)]
        )
        self.tokens = factory.tokens(self.patient)
        self.headers = {"Authorization": f"Bearer {self.tokens['access_token']}"}
        pcp = factory.headers(self.pcp)
        pid = str(self.patient.pk)
        rule = client.post(f"/api/v1/patients/{pid}/alert-rules", json=LOW, headers=pcp)
        assert rule.status_code == 201, rule.get_json()
        key = {"Idempotency-Key": str(uuid.uuid4())}
        log(client, self.headers, "me", self.agreement, "g_glucose", 55, **key)
        log(client, pcp, pid, self.agreement, "g_walk", 40, **key)
        medication = {
            "name": "Metformin",
            "dose": "500 mg",
            "route": "oral",
            "frequency": "twice daily",
            "start_on": "2024-01-10",
        }
        response = client.post(
            f"/api/v1/patients/{pid}/medications",
            json=medication,
            headers={**pcp, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.get_json()
        device = {"platform": "ios", "token": "a" * 64}
        assert (
            client.post(
                "/api/v1/patients/me/devices", json=device, headers=self.headers
            ).status_code
            == 201
        )
        self.mother = factory.patient(name="Mother")
        factory.grant(self.patient, self.mother, permissions=("view", "log", "manage"))
        assert (
            client.get(
                f"/api/v1/patients/{pid}/logs", headers=factory.headers(self.mother)
            ).status_code
            == 200
        )

        self.son = factory.patient(name="Son")
        factory.membership(self.son, self.pcp)
        self.son_agreement = factory.agreement(self.son, self.pcp, goals=[dict(WALK)])
        self.son_grant = factory.grant(
            self.son, self.patient, permissions=("view", "log", "manage")
        )
        son = str(self.son.pk)
        self.son_log = log(client, self.headers, son, self.son_agreement, "g_walk", 35)
        own_phone = {"platform": "android", "token": "b" * 64}
        response = client.post(
            f"/api/v1/patients/{son}/devices", json=own_phone, headers=self.headers
        )
        assert response.status_code == 201
        response = client.post(
            f"/api/v1/patients/{son}/medications",
            json={**medication, "name": "Ibuprofen", "dose": "100 mg"},
            headers=self.headers,
        )
        assert response.status_code == 201, response.get_json()


@pytest.fixture
def family(app, client, mongo, factory):
    return Family(app, client, mongo, factory)


def test_erasure_leaves_nothing_of_the_patient_in_any_collection(client, mongo, family):
    pid = family.patient.pk
    populated = {name for name, _ in mentions(mongo, pid)}
    # The set-up reached the collections a patient's life touches.
    assert {
        "users",
        "log_entries",
        "adherence_rollups",
        "adherence_summaries",
        "agreements",
        "agreement_versions",
        "care_team_members",
        "caregiver_grants",
        "notifications",
        "devices",
        "medications",
        "alert_rules",
        "alerts",
        "access_log",
        "idempotency_records",
    } <= populated
    son_entries = mongo.log_entries.count_documents({"patient": family.son.pk})

    response = erase(client, family.headers)

    assert response.status_code == 204, response.get_data(as_text=True)
    left = mentions(mongo, pid)
    kept = [(name, doc) for name, doc in left if name in ("access_log", "revocations")]
    assert left == kept, [(name, doc.get("_id")) for name, doc in left]
    (line,) = [doc for name, doc in kept if name == "access_log"]
    assert line["action"] == ERASED_ACTION and line["patient"] == pid
    assert set(line) <= {"_id", "patient", "actor", "actor_role", "relation", "action", "at"}
    # Only the revocation that keeps the old tokens failing stays, and it expires.
    assert [doc["_id"] for name, doc in kept if name == "revocations"] == [f"user:{pid}"]
    assert mongo.log_entries.count_documents({"patient": family.son.pk}) == son_entries


def test_old_tokens_are_rejected_and_the_password_no_longer_signs_in(client, family):
    assert erase(client, family.headers).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=family.headers), 401)
    assert_problem(client.get("/api/v1/patients/me/logs", headers=family.headers), 401)
    refresh = {"Authorization": f"Bearer {family.tokens['refresh_token']}"}
    assert_problem(client.post("/api/v1/auth/refresh", headers=refresh), 401)
    login = {"email": family.patient.email, "password": PASSWORD}
    assert_problem(client.post("/api/v1/auth/login", json=login), 401)


def test_others_records_survive_without_naming_the_erased_person(client, mongo, factory, family):
    son, pcp = family.son, family.pcp
    assert erase(client, family.headers).status_code == 204

    entry = mongo.log_entries.find_one({"patient": son.pk, "uid": family.son_log["id"]})
    assert entry is not None and entry["recorded_by"] == ERASED
    assert mongo.access_log.count_documents({"patient": son.pk, "actor": ERASED}) >= 1
    (ibuprofen,) = mongo.medications.find({"patient": son.pk})
    assert ibuprofen["reported_by"] == {"id": ERASED, "name": ERASED_NAME}
    assert mongo.caregiver_grants.count_documents({"patient": son.pk}) == 0
    assert mongo.devices.count_documents({"patient": son.pk}) == 0
    assert mongo.agreements.count_documents({"patient": son.pk}) == 1
    # The son's provider still reads the son's records, the erased mother's entry included.
    listed = client.get(f"/api/v1/patients/{son.pk}/logs", headers=factory.headers(pcp))
    assert [e["id"] for e in listed.get_json()] == [family.son_log["id"]]
    # The other patient of the World is untouched.
    other = family.world.other_patient
    assert mongo.care_team_members.count_documents({"patient": other.pk}) == 1
    assert mongo.users.count_documents({"_id": other.pk}) == 1


def test_a_wrong_password_erases_nothing(client, mongo, family):
    before = snapshot(mongo)
    body = assert_problem(erase(client, family.headers, password="not the password"), 422)
    assert set(body["errors"]) == {"password"}
    assert snapshot(mongo) == before
    assert client.get("/api/v1/me", headers=family.headers).status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "password"),
        ({"password": ""}, "password"),
        ({"password": 12345678901}, "password"),
        ({"password": "x" * 5000}, "password"),
        ({"password": PASSWORD, "confirm": True}, "confirm"),
    ],
)
def test_bad_bodies_are_422_and_erase_nothing(client, mongo, family, body, field):
    before = snapshot(mongo)
    response = client.delete("/api/v1/patients/me", json=body, headers=family.headers)
    assert field in assert_problem(response, 422)["errors"]
    assert snapshot(mongo) == before


def test_only_the_patient_may_erase(client, mongo, factory, family):
    pid = str(family.patient.pk)
    before = snapshot(
        mongo,
    )
    for user in (family.pcp, family.mother):
        response = erase(client, factory.headers(user), pid=pid)
        assert_problem(response, 403)
    for user in (family.world.stranger, family.world.other_patient, family.world.admin):
        assert_problem(erase(client, factory.headers(user), pid=pid), 404)
    assert_problem(erase(client, factory.headers(family.pcp)), 404)
    assert_problem(erase(client, {}, pid=pid), 401)
    assert snapshot(mongo) == before


def test_erasure_takes_the_patient_out_of_panel_counts_and_clinic_figures(client, factory, mongo):
    provider = factory.provider()
    cid = make_clinic(client, factory, provider)
    staying = enrol(client, factory, provider)
    leaving = enrol(client, factory, provider)

    def on_panel() -> int:
        counted = mongo.panel_counts.find_one({"_id": f"{provider.pk}:all:last_log"})
        return sum(counted["buckets"].values())

    def in_clinic() -> int:
        return mongo.population_aggregates.find_one({"_id": f"{cid}:*"})["patients"]

    assert (on_panel(), in_clinic()) == (2, 2)
    assert erase(client, factory.headers(leaving)).status_code == 204
    assert (on_panel(), in_clinic()) == (1, 1)
    assert mongo.population_profiles.count_documents({"_id": leaving.pk}) == 0
    panel = client.get("/api/v1/panel", headers=factory.headers(provider))
    assert [row["patient"]["id"] for row in panel.get_json()] == [str(staying.pk)]
    assert json.loads(panel.headers["X-Pagination"])["total"] == 1
