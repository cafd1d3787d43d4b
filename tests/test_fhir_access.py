"""Who may read through the FHIR API: the BOLA matrix over every FHIR route, caregivers, and
clinic system clients (created by an admin, client credentials, read-only, revocable)."""

import base64

import pytest

from api.models.api_client import ApiClient
from tests.clinic_client_helpers import (
    client_headers,
    clinic_with_client,
    token_response,
)
from tests.fhir_helpers import BASE, fhir_get, outcome, record
from tests.test_access_matrix import snapshot
from tests.test_fhir_api import TYPES, ids_of, search_path
from tests.test_foundation import assert_problem


@pytest.fixture
def r(client, factory):
    return record(client, factory)


def routes(r) -> list[str]:
    """Every FHIR route of the patient's record: a read and a search per type."""
    return [f"{kind}/{r.ids[kind]}" for kind in TYPES] + [search_path(k, r) for k in TYPES]


def outsiders(client, factory, r) -> dict[str, dict]:
    other_patient = factory.patient()
    stranger = factory.provider()
    ended = factory.provider()
    factory.membership(r.plan.patient, ended, status="ended")
    pending = factory.provider()
    factory.membership(r.plan.patient, pending, status="pending")
    lapsed = factory.patient()
    factory.grant(r.plan.patient, lapsed, status="ended")
    # A clinic whose providers care for someone else: its client reaches only that patient.
    elsewhere = factory.provider()
    factory.membership(other_patient, elsewhere)
    other_clinic = clinic_with_client(client, factory, elsewhere, stranger)
    return {
        "another patient": factory.headers(other_patient),
        "a provider not on the team": factory.headers(stranger),
        "a provider whose membership ended": factory.headers(ended),
        "a provider whose membership is pending": factory.headers(pending),
        "a caregiver whose grant ended": factory.headers(lapsed),
        "an admin": factory.headers(factory.admin()),
        "another clinic's system client": client_headers(client, other_clinic),
    }


def test_the_bola_matrix_every_route_every_outsider(client, factory, r, mongo):
    callers = outsiders(client, factory, r)
    before = snapshot(mongo)
    for who, headers in callers.items():
        for path in routes(r):
            response = client.get(f"{BASE}/{path}", headers=headers)
            if path.startswith("Patient?_id="):
                # A search by id finds nothing the caller may not read.
                assert response.status_code == 200, (who, path)
                assert response.get_json()["total"] == 0 and "entry" not in response.get_json()
            else:
                body = outcome(response, 404)
                assert r.ids["Patient"] not in str(body), (who, path)
        # Searching by the ids of the record: found for nobody but those let in.
        for kind in TYPES:
            _, bundle = fhir_get(client, f"{kind}?_id={r.ids[kind]}", headers)
            assert bundle["total"] == 0, (who, kind)
    assert snapshot(mongo) == before


def test_those_let_in_read_every_route(client, factory, r):
    caregiver = factory.headers(r.caregiver)
    clinic = clinic_with_client(client, factory, r.plan.provider)
    readers = {
        "the patient": r.plan.headers,
        "the provider on the team": factory.headers(r.plan.provider),
        "a caregiver with view": caregiver,
        "the clinic's system client": client_headers(client, clinic),
    }
    for who, headers in readers.items():
        for path in routes(r):
            _, body = fhir_get(client, path, headers)
            if body["resourceType"] == "Bundle":
                assert body["total"] >= 1, (who, path)
                assert ids_of(body), (who, path)
            else:
                assert body["id"] == path.split("/")[1], (who, path)


def test_clients_are_made_by_admins_and_their_secret_shown_once(client, factory, mongo):
    provider = factory.provider()
    made = clinic_with_client(client, factory, provider)
    stored = mongo.api_clients.find_one({"client_id": made.client_id})
    assert made.client_secret not in str(stored)
    assert len(stored["secret_hash"]) == 64
    listed = client.get(
        f"/api/v1/admin/clinics/{made.clinic_id}/api-clients", headers=made.admin_headers
    )
    assert listed.status_code == 200
    assert [c["client_id"] for c in listed.get_json()] == [made.client_id]
    assert "client_secret" not in listed.get_json()[0]
    url = f"/api/v1/admin/clinics/{made.clinic_id}/api-clients"
    assert_problem(client.post(url, json={}, headers=factory.headers(provider)), 403)
    assert_problem(client.post(url, json={"name": 5}, headers=made.admin_headers), 422)
    assert_problem(client.post(url, json={"secret": "x"}, headers=made.admin_headers), 422)
    missing = "/api/v1/admin/clinics/5f0000000000000000000000/api-clients"
    assert_problem(client.post(missing, json={}, headers=made.admin_headers), 404)
    assert mongo.api_clients.count_documents({}) == 1


def test_the_token_endpoint_speaks_oauth_client_credentials(client, factory, mongo):
    made = clinic_with_client(client, factory, factory.provider())
    url = f"{BASE}/auth/token"

    def error(response, status, code):
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.get_json()["error"] == code
        assert response.headers["Cache-Control"] == "no-store"

    error(token_response(client, made.client_id, "wrong"), 401, "invalid_client")
    error(token_response(client, "cp_unknown", made.client_secret), 401, "invalid_client")
    error(token_response(client, made.client_id, ""), 401, "invalid_client")
    error(
        token_response(client, made.client_id, made.client_secret, grant_type="password"),
        400,
        "unsupported_grant_type",
    )
    error(
        token_response(client, made.client_id, made.client_secret, scope="system/*.write"),
        400,
        "invalid_scope",
    )
    as_json = {"grant_type": "client_credentials", "client_id": made.client_id}
    error(client.post(url, json=as_json), 400, "invalid_request")
    error(client.get(url), 405, "invalid_request")
    assert mongo.api_clients.find_one()["tokens_issued"] == 0

    granted = token_response(client, made.client_id, made.client_secret)
    assert granted.status_code == 200
    body = granted.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == "system/*.read"
    basic = base64.b64encode(f"{made.client_id}:{made.client_secret}".encode()).decode()
    by_basic = client.post(
        url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert by_basic.status_code == 200, by_basic.get_json()
    record_of_use = mongo.api_clients.find_one()
    assert record_of_use["tokens_issued"] == 2 and record_of_use["last_token_at"]


def test_a_client_reads_its_clinics_patients_only_and_is_revocable(client, factory, mongo):
    inside = record(client, factory)
    clinic = clinic_with_client(client, factory, inside.plan.provider)
    headers = client_headers(client, clinic)
    outside = factory.patient()
    factory.membership(outside, factory.provider())

    fhir_get(client, f"Observation?patient={inside.ids['Patient']}", headers)
    outcome(client.get(f"{BASE}/Patient/{outside.pk}", headers=headers), 404)
    outcome(client.get(f"{BASE}/Observation?patient={outside.pk}", headers=headers), 404)
    # Read-only and FHIR-only: the rest of the API does not take its token.
    pid = inside.ids["Patient"]
    for method, path in (
        ("get", f"/api/v1/patients/{pid}/logs"),
        ("get", f"/api/v1/patients/{pid}/export"),
        ("get", "/api/v1/me"),
        ("post", f"/api/v1/patients/{pid}/messages"),
    ):
        response = getattr(client, method)(path, json={"body": "x"}, headers=headers)
        assert_problem(response, 401)
    logged = mongo.access_log.find_one({"relation": "clinic"})
    assert logged["actor"] == ApiClient.objects.get(client_id=clinic.client_id).pk
    assert logged["actor_role"] == "clinic_client"

    revoke = f"/api/v1/admin/clinics/{clinic.clinic_id}/api-clients/{clinic.client_id}"
    assert client.delete(revoke, headers=clinic.admin_headers).status_code == 204
    outcome(client.get(f"{BASE}/Patient/{pid}", headers=headers), 401)
    again = token_response(client, clinic.client_id, clinic.client_secret)
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    assert client.delete(revoke, headers=clinic.admin_headers).status_code == 204
    wrong_clinic = f"/api/v1/admin/clinics/{clinic.clinic_id}/api-clients/cp_nobody"
    assert_problem(client.delete(wrong_clinic, headers=clinic.admin_headers), 404)


def test_patient_search_lists_whom_the_caller_may_read(client, factory, r, mongo):
    second = factory.patient(name="Second Patient")
    factory.membership(second, r.plan.provider)
    colleague = factory.provider()
    third = factory.patient(name="Third Patient")
    factory.membership(third, colleague)
    clinic = clinic_with_client(client, factory, r.plan.provider, colleague)
    expected = {
        "the patient": (r.plan.headers, {r.ids["Patient"]}),
        "the provider": (factory.headers(r.plan.provider), {r.ids["Patient"], str(second.pk)}),
        # A caregiver is a patient too: themselves, and whom they care for.
        "the caregiver": (factory.headers(r.caregiver), {r.ids["Patient"], str(r.caregiver.pk)}),
        "a stranger": (factory.headers(factory.provider()), set()),
        "the clinic's client": (
            client_headers(client, clinic),
            {r.ids["Patient"], str(second.pk), str(third.pk)},
        ),
    }
    for who, (headers, patients) in expected.items():
        url, seen = f"{BASE}/Patient?_count=2", []
        while url:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (who, response.get_json())
            bundle = response.get_json()
            assert bundle["total"] == len(patients), who
            seen += ids_of(bundle)
            url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
        assert sorted(seen) == sorted(patients), who
    logged = mongo.access_log.count_documents({"relation": "clinic", "patient": third.pk})
    assert logged == 1
