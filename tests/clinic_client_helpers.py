"""Clinic system clients for the FHIR tests: a clinic, its client, and the client's token."""

import uuid
from dataclasses import dataclass

from tests.fhir_helpers import BASE
from tests.test_population import make_clinic


@dataclass
class ClinicClient:
    clinic_id: str
    client_id: str
    client_secret: str
    admin_headers: dict


def clinic_with_client(client, factory, *providers) -> ClinicClient:
    cid = make_clinic(client, factory, *providers, name=f"Clinic {uuid.uuid4().hex[:8]}")
    admin = factory.headers(factory.admin())
    created = client.post(
        f"/api/v1/admin/clinics/{cid}/api-clients", json={"name": "EHR"}, headers=admin
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    return ClinicClient(cid, body["client_id"], body["client_secret"], admin)


def token_response(client, client_id: str, secret: str, **form):
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    data.update(form)
    return client.post(f"{BASE}/auth/token", data=data)


def client_headers(client, clinic_client: ClinicClient) -> dict:
    response = token_response(client, clinic_client.client_id, clinic_client.client_secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
