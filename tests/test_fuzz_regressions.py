"""Bugs the slow fuzz tier found, kept as regression tests."""

import json

import schemathesis
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.extensions import MAX_PAGE
from tests.agreement_helpers import circle, plan
from tests.log_helpers import entry, post
from tests.log_helpers import plan as log_plan

ABSURD_PAGE = 2**70


def test_an_absurd_page_number_is_a_422_naming_page_not_a_500(client, factory, mongo):
    p = log_plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    for path in ("/api/v1/patients/me/logs", f"/api/v1/patients/{p.patient.pk}/care-team"):
        response = client.get(f"{path}?page={ABSURD_PAGE}", headers=p.headers)
        assert response.status_code == 422, path
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"] == {"page": [f"Must be at most {MAX_PAGE}."]}
    far = client.get(f"/api/v1/patients/me/logs?page={MAX_PAGE}", headers=p.headers)
    assert far.status_code == 200
    assert far.get_json() == []
    assert json.loads(far.headers["X-Pagination"])["total"] == 1


def test_an_empty_if_match_tag_is_a_stale_version_not_a_500(client, factory, mongo):
    people = circle(factory, lean=True)
    created = client.post(people.url(), json=plan(), headers=people.headers["provider"])
    assert created.status_code == 201
    agreement = created.get_json()
    response = client.patch(
        people.url(f"/{agreement['id']}"),
        json={"title": "Changed"},
        headers={**people.headers["provider"], "If-Match": '""'},
    )
    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["current_version"] == agreement["version"]
    stored = mongo.agreements.find_one({"title": "Changed"})
    assert stored is None
    assert mongo.agreements.find_one({})["content"]["title"] == "Type 2 diabetes plan"


def test_both_bodies_of_the_logs_path_match_the_documented_schema(app, client, factory, mongo):
    """`GET .../logs?since=` answers `{changes, next_cursor, has_more}`; it was documented as
    an array of entries, so every sync response broke its schema."""
    p = log_plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[
        "/api/v1/patients/{pid}/logs"
    ]["GET"]
    for query, shape in (({"since": "0"}, dict), ({}, list)):
        case = operation.Case(path_parameters={"pid": "me"}, query=query)
        response = case.call(headers=p.headers)
        assert response.status_code == 200
        assert isinstance(response.json(), shape)
        case.validate_response(response, checks=[response_schema_conformance])
