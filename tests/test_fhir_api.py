"""The FHIR R4 read API through HTTP: metadata, read and search of every type, the search
parameters, errors as OperationOutcome, and what a read leaves behind (only the access log)."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest

from api.fhir.params import encode_cursor
from api.services.tracking import glucose
from tests.fhir_helpers import BASE, fhir_get, outcome, record
from tests.fhir_schema import validate
from tests.log_helpers import entry, post
from tests.test_access_matrix import snapshot

TYPES = [
    "Patient",
    "CarePlan",
    "Goal",
    "CareTeam",
    "Observation",
    "Procedure",
    "MedicationStatement",
    "Flag",
    "RelatedPerson",
    "Communication",
]


@pytest.fixture
def r(client, factory):
    return record(client, factory)


def search_path(kind: str, r, query: str = "") -> str:
    own = f"_id={r.ids['Patient']}" if kind == "Patient" else f"patient={r.ids['Patient']}"
    return f"{kind}?{own}" + (f"&{query}" if query else "")


def ids_of(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_metadata_is_a_capability_statement_for_every_type(client):
    _response, body = fhir_get(client, "metadata", {})
    assert body["resourceType"] == "CapabilityStatement"
    assert body["status"] == "active" and body["kind"] == "instance"
    assert body["fhirVersion"] == "4.0.1" and "date" in body
    assert "application/fhir+json" in body["format"]
    served = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert set(served) == set(TYPES)
    for resource in served.values():
        assert {i["code"] for i in resource["interaction"]} == {"read", "search-type"}
    observation = {p["name"]: p["type"] for p in served["Observation"]["searchParam"]}
    assert observation == {
        "_id": "token",
        "patient": "reference",
        "subject": "reference",
        "category": "token",
        "code": "token",
        "date": "date",
    }
    assert {p["name"] for p in served["Goal"]["searchParam"]} >= {"patient", "lifecycle-status"}
    # A client that asks for plain JSON gets it, as JSON.
    plain = client.get(f"{BASE}/metadata", headers={"Accept": "application/json"})
    assert plain.status_code == 200 and plain.mimetype == "application/json"
    assert plain.get_json() == body
    for refused in ({"Accept": "application/fhir+xml"}, {}):
        query = "?_format=xml" if not refused else ""
        outcome(client.get(f"{BASE}/metadata{query}", headers=refused), 406)


def test_every_type_is_read_with_weak_etag_and_last_modified(client, factory, r):
    for kind in TYPES:
        rid = r.ids[kind]
        response, body = fhir_get(client, f"{kind}/{rid}", r.plan.headers)
        assert body["resourceType"] == kind and body["id"] == rid
        etag = response.headers["ETag"]
        assert etag == f'W/"{body["meta"]["versionId"]}"'
        modified = parsedate_to_datetime(response.headers["Last-Modified"])
        assert abs(modified - datetime.now(UTC)) < timedelta(minutes=5)
        assert body["meta"]["lastUpdated"].endswith("Z")
        again, _ = fhir_get(client, f"{kind}/{rid}", {**r.plan.headers, "If-None-Match": etag}, 304)
        assert again.headers["ETag"] == etag and again.get_data() == b""
    _, observation = fhir_get(client, f"Observation/{r.ids['Observation']}", r.plan.headers)
    assert observation["subject"] == {"reference": f"Patient/{r.ids['Patient']}"}
    assert observation["basedOn"] == [{"reference": f"CarePlan/{r.ids['CarePlan']}"}]
    assert observation["code"]["coding"][0]["code"] == "2339-0"
    _, flag = fhir_get(client, f"Flag/{r.ids['Flag']}", r.plan.headers)
    assert flag["status"] == "active" and flag["code"]["text"].startswith("Urgent alert")
    _, message = fhir_get(client, f"Communication/{r.ids['Communication']}", r.plan.headers)
    assert message["payload"] == [{"contentString": "How are you?"}]
    assert message["sender"] == {"reference": f"Practitioner/{r.plan.provider.pk}"}
    _, related = fhir_get(client, f"RelatedPerson/{r.ids['RelatedPerson']}", r.plan.headers)
    assert related["name"] == [{"text": "Maria Ruiz"}]
    # A change of the record is a new version.
    changed = client.patch(
        f"/api/v1/patients/{r.ids['Patient']}/medications/{r.ids['MedicationStatement']}",
        json={"dose": "1000 mg"},
        headers=factory.headers(r.plan.provider),
    )
    assert changed.status_code == 200, changed.get_json()
    path = f"MedicationStatement/{r.ids['MedicationStatement']}"
    _, before = fhir_get(client, path, r.plan.headers)
    assert before["dosage"][0]["text"].startswith("1000 mg")


def test_every_type_is_searched_into_a_searchset(client, r):
    for kind in TYPES:
        _, bundle = fhir_get(client, search_path(kind, r), r.plan.headers)
        assert bundle["type"] == "searchset"
        assert bundle["total"] == len(bundle["entry"]) >= 1
        assert r.ids[kind] in ids_of(bundle)
        (self_link,) = bundle["link"]
        assert self_link == {
            "relation": "self",
            "url": f"http://localhost{BASE}/{search_path(kind, r)}",
        }
        for item in bundle["entry"]:
            resource = item["resource"]
            assert item["fullUrl"] == f"http://localhost{BASE}/{kind}/{resource['id']}"
            assert item["search"] == {"mode": "match"}
    # The patient's own searches need no patient parameter.
    _, own = fhir_get(client, "Observation", r.plan.headers)
    assert ids_of(own) == [r.ids["Observation"]]


def test_status_and_code_filters_of_the_small_types(client, r):
    def total(kind, query):
        return fhir_get(client, search_path(kind, r, query), r.plan.headers)[1]["total"]

    assert total("CarePlan", "status=active") == 1
    assert total("CarePlan", "status=completed,revoked") == 0
    assert total("Goal", "lifecycle-status=active") == 3
    assert total("Goal", "lifecycle-status=cancelled") == 0
    assert total("CareTeam", "status=active") == 1
    assert total("MedicationStatement", "status=active") == 1
    assert total("MedicationStatement", "status=stopped") == 0
    assert total("Flag", "status=active") == 1
    assert total("Flag", "status=inactive") == 0
    assert total("Procedure", "code=http://loinc.org|4548-4") == 1
    assert total("Procedure", "code=4548-4&date=ge2000-01-01") == 1
    assert total("Procedure", "code=http://snomed.info/sct|4548-4") == 0
    assert total("Procedure", f"date=gt{datetime.now(UTC).date().isoformat()}") == 0
    assert total("Patient", "identifier=urn:carepact:patient|" + r.ids["Patient"]) == 1


def test_observation_search_by_code_category_date_and_order(client, r):
    p = r.plan
    base = datetime(2026, 3, 1, 12, tzinfo=UTC)
    p.agreement.update(set__active_since=base - timedelta(days=30))
    made = {}
    for n, (goal, value) in enumerate([("g_walk", 40), ("g_glucose", 120), ("g_weight", 80)]):
        at = base + timedelta(days=n)
        body = entry(p, goal=goal, value=value, at=at)
        assert post(client, p, body).status_code == 201
        made[goal] = at

    def found(query: str) -> list[str]:
        _, bundle = fhir_get(client, search_path("Observation", r, query), p.headers)
        assert bundle["total"] == len(bundle.get("entry", []))
        return [e["resource"]["effectiveDateTime"][:10] for e in bundle.get("entry", [])]

    assert found("code=http://loinc.org|2339-0&date=lt2026-04-01") == ["2026-03-02"]
    assert found("code=2339-0&date=lt2026-04-01") == ["2026-03-02"]
    assert found("code=http://loinc.org|55411-3") == ["2026-03-01"]
    assert found("code=urn:carepact:measure|exercise_minutes") == []
    assert found("category=vital-signs") == ["2026-03-03"]
    assert found("category=http://terminology.hl7.org/CodeSystem/observation-category|activity")
    assert found("category=laboratory&code=29463-7") == []
    window = "date=ge2026-03-01&date=lt2026-03-04"
    assert found(window) == ["2026-03-03", "2026-03-02", "2026-03-01"]
    assert found(window + "&_sort=date") == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert found("date=eq2026-03-02") == ["2026-03-02"]
    assert found("date=2026-03-02") == ["2026-03-02"]
    assert found("date=gt2026-03-02&date=le2026-03") == ["2026-03-03"]
    assert found("date=" + quote(">=2026-03-02") + "&date=" + quote("<2026-03-03")) == [
        "2026-03-02"
    ]
    assert found("date=" + quote(">2026-03-02T12:00:00Z") + "&date=lt2026-04") == ["2026-03-03"]
    assert found("date=le2026-03-01T12:59:59%2B01:00") == []
    assert found("date=le2026-03-01T13:00:00-01:00") == ["2026-03-01"]


def test_paging_follows_absolute_next_links_each_entry_once(client, r):
    p = r.plan
    start = datetime.now(UTC) - timedelta(days=20)
    p.agreement.update(set__active_since=start - timedelta(days=1))
    # Three share an instant: the keyset's _id breaks the tie.
    times = [start + timedelta(hours=5 * n) for n in range(60)] + [start] * 2
    batch = [entry(p, goal="g_walk", value=30 + n % 7, at=at) for n, at in enumerate(times)]
    response = client.post(
        "/api/v1/patients/me/logs/batch", json={"entries": batch}, headers=p.headers
    )
    assert response.status_code == 200, response.get_json()
    expected = len(batch) + 1
    for sort in ("-date", "date"):
        url = f"{BASE}/{search_path('Observation', r, f'_count=7&_sort={sort}')}"
        seen, pages = [], 0
        while url:
            got = client.get(url, headers=p.headers)
            assert got.status_code == 200, got.get_data(as_text=True)
            bundle = validate(got.get_json())
            assert bundle["total"] == expected
            seen += [
                (e["resource"]["effectiveDateTime"], e["resource"]["id"]) for e in bundle["entry"]
            ]
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            assert url is None or url.startswith(f"http://localhost{BASE}/Observation?")
            pages += 1
        assert pages == -(-expected // 7)
        assert len({rid for _, rid in seen}) == expected == len(seen)
        times_seen = [at for at, _ in seen]
        assert times_seen == sorted(times_seen, reverse=sort == "-date")
    _, empty = fhir_get(client, search_path("Observation", r, "_count=0"), p.headers)
    assert empty["total"] == expected and "entry" not in empty


BAD = [
    ("Observation", "color=blue", "color"),
    ("Observation", "code:text=glucose", "code:text"),
    ("Observation", "_count=1001", "_count"),
    ("Observation", "_count=-1", "_count"),
    ("Observation", "_count=ten", "_count"),
    ("Observation", "_count=5&_count=6", "_count"),
    ("Observation", "date=yesterday", "date"),
    ("Observation", "date=ge2026-02-30", "date"),
    ("Observation", "date=ap2026-03-01", "date"),
    ("Observation", "date=2026-03-01T25:00", "date"),
    ("Observation", "_sort=value", "_sort"),
    ("Observation", "_cursor=not-a-cursor", "_cursor"),
    ("Observation", "_cursor=eyJ0IjoxfQ", "_cursor"),
    ("Observation", "date=le9999-12-31", "date"),
    ("Observation", "date=9999-12", "date"),
    ("Observation", "date=0000", "date"),
    ("Observation", "patient=Practitioner/1", "patient"),
    ("Observation", "code=", "code"),
    ("CarePlan", "status=on", "status"),
    ("CarePlan", 'status={"$ne":null}', "status"),
    ("Goal", "status=active", "status"),
    ("Flag", "status=.*", "status"),
    ("Patient", "name=Ana", "name"),
    ("Procedure", "date=2026-13", "date"),
    ("MedicationStatement", "_total=all", "_total"),
]


def test_bad_parameters_are_400_naming_them(client, r, mongo):
    before = snapshot(mongo)
    for kind, query, name in BAD:
        path = f"{BASE}/{search_path(kind, r, query)}"
        outcome(client.get(path, headers=r.plan.headers), 400, name)
    assert snapshot(mongo) == before


def test_unknown_types_ids_and_interactions(client, r, mongo):
    h = r.plan.headers
    before = snapshot(mongo)
    outcome(client.get(f"{BASE}/Practitioner/{r.ids['Patient']}", headers=h), 404)
    outcome(client.get(f"{BASE}/Nonsense", headers=h), 404)
    outcome(client.get(f"{BASE}/Observation/not*an*id", headers=h), 404)
    outcome(client.get(f"{BASE}/Observation/{'a' * 65}", headers=h), 404)
    outcome(client.get(f"{BASE}/Observation/{r.ids['Patient']}", headers=h), 404)
    outcome(client.get(f"{BASE}/Goal/{r.ids['CarePlan']}-0000", headers=h), 404)
    for method in ("post", "put", "patch", "delete"):
        for path in ("Observation", f"Observation/{r.ids['Observation']}", "metadata"):
            response = getattr(client, method)(f"{BASE}/{path}", json={}, headers=h)
            body = outcome(response, 405)
            assert "read" in body["issue"][0]["diagnostics"] or response.headers["Allow"]
    outcome(client.get(f"{BASE}/Observation/{r.ids['Observation']}/_history", headers=h), 405)
    outcome(client.post(f"{BASE}/Observation/_search", headers=h), 405)
    assert snapshot(mongo) == before


def test_tokens_are_required_and_checked(client, r, factory):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic eDp5"}):
        response = client.get(f"{BASE}/Observation/{r.ids['Observation']}", headers=headers)
        outcome(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    signed_out = factory.headers(r.plan.patient)
    assert client.post("/api/v1/auth/logout", headers=signed_out).status_code == 204
    outcome(client.get(f"{BASE}/Patient/{r.ids['Patient']}", headers=signed_out), 401)


def test_tampered_cursors_are_positions_not_errors(client, r):
    h = r.plan.headers
    for fields in (
        {"t": "9999-12-31T23:59:59.999999+00:00", "id": r.ids["Observation"], "w": 1e12},
        {"t": "0001-01-01T00:00:00+00:00", "id": r.ids["Observation"], "w": -5},
    ):
        for sort in ("date", "-date"):
            query = f"_sort={sort}&_cursor={encode_cursor(fields)}"
            fhir_get(client, search_path("Observation", r, query), h)


def test_injection_shaped_values_are_plain_strings(client, r):
    h = r.plan.headers
    for query in (
        'code={"$ne":null}',
        "code=.*",
        "code=" + quote("2339-0|.*"),
        "_id=" + quote('{"$gt":""}'),
        "_id=.*",
    ):
        _, bundle = fhir_get(client, search_path("Observation", r, query), h)
        assert bundle["total"] == 0 and "entry" not in bundle
    outcome(client.get(f"{BASE}/Observation?patient=" + quote('{"$ne":null}'), headers=h), 404)
    outcome(client.get(f"{BASE}/Observation?patient=.*", headers=h), 404)
    _, none = fhir_get(client, "Patient?identifier=" + quote("urn:carepact:patient|.*"), h)
    assert none["total"] == 0


def test_reads_write_nothing_but_the_access_log(client, factory, r, mongo):
    provider = factory.headers(r.plan.provider)
    before = snapshot(mongo)
    before_log = mongo.access_log.count_documents({})
    for kind in TYPES:
        fhir_get(client, f"{kind}/{r.ids[kind]}", provider)
        fhir_get(client, search_path(kind, r), provider)
    after = snapshot(mongo)
    after.pop("access_log"), before.pop("access_log", None)
    assert after == before
    logged = list(mongo.access_log.find().sort("_id", 1).skip(before_log))
    assert len(logged) == 2 * len(TYPES)
    assert {e["actor"] for e in logged} == {r.plan.provider.pk}
    assert {e["relation"] for e in logged} == {"team"}
    actions = {e["action"] for e in logged}
    assert "GET /fhir/R4/Observation/<rid>" in actions and "GET /fhir/R4/Goal" in actions
    # The patient sees them in their own access log.
    shown = client.get("/api/v1/patients/me/access-log", headers=r.plan.headers)
    assert shown.status_code == 200, shown.get_json()
    assert any(e["action"].startswith("GET /fhir/R4/") for e in shown.get_json())
    # The patient's own reads are not logged (as elsewhere in the API).
    fhir_get(client, search_path("Observation", r), r.plan.headers)
    assert mongo.access_log.count_documents({}) == before_log + len(logged)


def test_export_and_api_share_ids(client, r):
    export = client.get("/api/v1/patients/me/export", headers=r.plan.headers)
    document = validate(export.get_json())
    urls = {e["fullUrl"] for e in document["entry"]}
    for kind in TYPES:
        if kind != "Communication":
            assert f"http://localhost{BASE}/{kind}/{r.ids[kind]}" in urls, kind


def test_cgm_readings_are_observations_in_date_order_with_the_log(client, r):
    p = r.plan
    created = client.post(
        "/api/v1/patients/me/uploaders", json={"name": "xDrip+"}, headers=p.headers
    )
    assert created.status_code == 201, created.get_json()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start_ms = int((now - timedelta(hours=3)).timestamp() * 1000)
    readings = [glucose.Reading("sgv", start_ms + n * 300_000, value=100 + n) for n in range(24)]
    glucose.store(p.patient.pk, readings, tz="UTC")

    _, first = fhir_get(client, search_path("Observation", r, "_count=10"), p.headers)
    assert first["total"] == 25  # the low glucose entry and 24 readings
    seen, url = [], f"{BASE}/{search_path('Observation', r, '_count=10')}"
    while url:
        bundle = validate(client.get(url, headers=p.headers).get_json())
        seen += [e["resource"] for e in bundle["entry"]]
        url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
    assert len({o["id"] for o in seen}) == len(seen) == 25
    times = [o["effectiveDateTime"] for o in seen]
    assert times == sorted(times, reverse=True)
    cgm = [o for o in seen if o["id"].startswith("cgm-")]
    assert len(cgm) == 24 and cgm[0]["code"]["coding"][0]["code"] == "99504-3"
    assert cgm[-1]["valueQuantity"]["value"] == 100
    _, one = fhir_get(client, f"Observation/{cgm[0]['id']}", p.headers)
    assert one == {**cgm[0], "meta": one["meta"]}
    _, by_code = fhir_get(
        client, search_path("Observation", r, "code=http://loinc.org|99504-3"), p.headers
    )
    assert by_code["total"] == 24
    _, walks = fhir_get(client, search_path("Observation", r, "category=activity"), p.headers)
    assert walks["total"] == 0
    # The last six readings (from 90 minutes ago) and the low glucose entry an hour ago.
    since = (now - timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    _, recent = fhir_get(client, search_path("Observation", r, "date=ge" + quote(since)), p.headers)
    assert recent["total"] == len(recent["entry"]) == 7
    outcome(client.get(f"{BASE}/Observation/cgm-{p.patient.pk}-1", headers=p.headers), 404)
    outcome(client.get(f"{BASE}/Observation/cgm-x-1-2", headers=p.headers), 404)
