"""Real FHIR clients from PyPI against the API served on loopback by a real HTTP server:
`fhirclient` (SMART on FHIR's Python client: reads /metadata, follows absolute next links,
parses every resource into its R4 models) and `fhirpy` (count(), get(), paging)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.auth import FHIRAuth
from fhirclient.models import (
    careplan,
    careteam,
    communication,
    flag,
    goal,
    medicationstatement,
    observation,
    patient,
    procedure,
    relatedperson,
)
from fhirpy import SyncFHIRClient
from werkzeug.serving import make_server

from tests.clinic_client_helpers import client_headers, clinic_with_client
from tests.fhir_helpers import BASE, record
from tests.fhir_schema import validate
from tests.log_helpers import entry

OBSERVATIONS = 2500
MODELS = {
    "Patient": patient.Patient,
    "CarePlan": careplan.CarePlan,
    "Goal": goal.Goal,
    "CareTeam": careteam.CareTeam,
    "Observation": observation.Observation,
    "Procedure": procedure.Procedure,
    "MedicationStatement": medicationstatement.MedicationStatement,
    "Flag": flag.Flag,
    "RelatedPerson": relatedperson.RelatedPerson,
    "Communication": communication.Communication,
}


@pytest.fixture
def server(app):
    """The app on a free loopback port, in a thread, against the test's database."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}{BASE}"
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def r(client, factory):
    """The record of every kind, and 2,500 more Observations over the last 50 days."""
    r = record(client, factory)
    start = datetime.now(UTC) - timedelta(days=50)
    r.plan.agreement.update(set__active_since=start - timedelta(days=1))
    items = [
        entry(r.plan, goal="g_walk", value=20 + n % 40, at=start + timedelta(minutes=28 * n))
        for n in range(OBSERVATIONS)
    ]
    for first in range(0, OBSERVATIONS, 500):
        response = client.post(
            "/api/v1/patients/me/logs/batch",
            json={"entries": items[first : first + 500]},
            headers=r.plan.headers,
        )
        assert response.status_code == 200, response.get_json()
    return r


class Bearer(FHIRAuth):
    """fhirclient signs its requests with a token we already hold."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    @property
    def ready(self) -> bool:
        return True

    def can_sign_headers(self) -> bool:
        return True

    def signed_headers(self, headers: dict) -> dict:
        return {**headers, "Authorization": f"Bearer {self.token}"}


def token_of(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_real_clients_read_search_and_page(server, r, client, factory):
    """One record of 2,500 Observations, read by both clients (it takes a while to make)."""
    fhirclient_reads_everything_and_pages_by_next_links(server, r, client, factory)
    fhirpy_counts_gets_and_pages(server, r)


def fhirclient_reads_everything_and_pages_by_next_links(server, r, client, factory):
    clinic = clinic_with_client(client, factory, r.plan.provider)
    smart = smart_client.FHIRClient(settings={"app_id": "carepact-tests", "api_base": server + "/"})
    statement = smart.server.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    assert {res.type for res in statement.rest[0].resource} == set(MODELS)
    smart.server.auth = Bearer(token_of(client_headers(client, clinic)))

    pid = r.ids["Patient"]
    for kind, model in MODELS.items():
        read = model.read(r.ids[kind], smart.server)
        assert read.id == r.ids[kind]
        query = {"_id": pid} if kind == "Patient" else {"patient": pid}
        found = list(model.where(query).perform_resources_iter(smart.server))
        assert r.ids[kind] in [item.id for item in found], kind

    search = observation.Observation.where({"patient": pid, "_count": "100"})
    pages = list(search.perform_iter(smart.server))
    assert len(pages) == 26
    assert {page.total for page in pages} == {OBSERVATIONS + 1}
    seen = [e.resource.id for page in pages for e in page.entry]
    assert len(seen) == len(set(seen)) == OBSERVATIONS + 1
    dates = [e.resource.effectiveDateTime.date for page in pages for e in page.entry]
    assert dates == sorted(dates, reverse=True)
    # The pages are what HL7's schema says an R4 Bundle is (first and last in full).
    next_url = pages[0].link[1].url
    assert next_url.startswith(server + "/Observation?")
    for url in (f"{server}/Observation?patient={pid}&_count=100", next_url):
        validate(requests.get(url, headers=client_headers(client, clinic), timeout=30).json())


def fhirpy_counts_gets_and_pages(server, r):
    fhir = SyncFHIRClient(server, authorization=r.plan.headers["Authorization"])
    pid = r.ids["Patient"]
    observations = fhir.resources("Observation").search(patient=pid)
    assert observations.count() == OBSERVATIONS + 1
    walks = observations.search(code="http://loinc.org|55411-3")
    assert walks.count() == OBSERVATIONS
    everything = observations.limit(1000).fetch_all()
    assert len({o.id for o in everything}) == len(everything) == OBSERVATIONS + 1
    oldest_first = observations.sort("date").limit(400).fetch_all()
    assert [o.id for o in oldest_first] == [o.id for o in reversed(everything)]
    for kind in MODELS:
        got = fhir.resources(kind).search(_id=r.ids[kind]).get()
        assert got.id == r.ids[kind] and got.resourceType == kind
        assert fhir.reference(kind, r.ids[kind]).to_resource().id == r.ids[kind]
        assert (
            fhir.resources(kind)
            .search(**({"patient": pid} if kind != "Patient" else {"_id": pid}))
            .count()
            >= 1
        )
