"""Hostile input: huge bodies, deep nesting, broken encodings, NoSQL-injection shapes.

Each gets a clear 4xx problem+json, never a 500, and nothing is stored.
"""

import io
import json

import pytest

from tests.test_foundation import assert_problem

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


def post_raw(client, path, raw: bytes, **kwargs):
    return client.post(path, data=raw, content_type="application/json", **kwargs)


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 50 * 1024 * 1024])
def test_oversized_bodies_are_413_before_parsing(client, mongo, size):
    response = post_raw(client, REGISTER, b"{" + b" " * size + b"}")
    assert_problem(response, 413)
    assert mongo.users.count_documents({}) == 0


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_400(client, depth):
    body = ("[" * depth + "]" * depth).encode()
    assert_problem(post_raw(client, LOGIN, body), 400)
    nested = ('{"email": ' + "[" * depth + "]" * depth + "}").encode()
    assert_problem(post_raw(client, LOGIN, nested), 400)


def test_invalid_utf8_is_400(client, mongo):
    body = b'{"email": "a\xff@example.org", "password": "correct horse", "name": "X"}'
    response = post_raw(client, REGISTER, body)
    body_json = assert_problem(response, 400)
    assert "JSON" in body_json["detail"]
    assert mongo.users.count_documents({}) == 0


def test_a_lone_surrogate_is_400_and_nothing_is_stored(client, mongo):
    body = b'{"email": "s@example.org", "password": "correct horse", "name": "\\ud800"}'
    assert_problem(post_raw(client, REGISTER, body), 400)
    assert mongo.users.count_documents({}) == 0


def test_nul_in_a_key_is_400(client):
    assert_problem(post_raw(client, LOGIN, b'{"em\\u0000ail": "x"}'), 400)


@pytest.mark.parametrize(
    "unicode_name",
    ["Zoë Ångström", "李小龙", "👩\u200d⚕️ Dr.", "\U0010ffff", "שרה כהן", "\u200fمريم"],
)
def test_unicode_edge_cases_round_trip(client, factory, mongo, unicode_name):
    patient = factory.patient()
    response = client.patch(
        "/api/v1/me", json={"name": unicode_name}, headers=factory.headers(patient)
    )
    assert response.status_code == 200
    assert response.get_json()["name"] == unicode_name
    assert mongo.users.find_one({"_id": patient.pk})["name"] == unicode_name


@pytest.mark.parametrize(
    "email",
    [{"$gt": ""}, {"$ne": None}, {"$where": "sleep(1000)"}, ["a@example.org"], 1],
)
def test_operator_shapes_never_reach_a_query(client, factory, email):
    factory.patient(email="victim@example.org")
    response = client.post(LOGIN, json={"email": email, "password": {"$gt": ""}})
    body = assert_problem(response, 422)
    assert {"email", "password"} <= set(body["errors"])


def test_dotted_and_dollar_keys_are_unknown_fields(client, factory, mongo):
    patient = factory.patient()
    response = client.patch(
        "/api/v1/me",
        json={"$set": {"role": "admin"}, "quiet_hours.start": "00:00"},
        headers=factory.headers(patient),
    )
    body = assert_problem(response, 422)
    assert {"$set", "quiet_hours.start"} <= set(body["errors"])
    assert mongo.users.find_one({"_id": patient.pk})["role"] == "patient"


def test_operator_shapes_in_the_query_string_are_plain_strings(client, factory):
    provider = factory.provider(specialty="cardiology")
    headers = factory.headers(provider)
    # Unknown query parameters (cache-busters and the like) are ignored, never interpreted.
    response = client.get("/api/v1/providers?specialty[$ne]=cardiology", headers=headers)
    assert response.status_code == 200
    assert [p["id"] for p in response.get_json()] == [str(provider.pk)]
    response = client.get(
        "/api/v1/providers", query_string={"specialty": json.dumps({"$ne": "x"})}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json() == []


@pytest.mark.parametrize(
    ("path", "role"),
    [
        (REGISTER, None),
        (LOGIN, None),
        ("/api/v1/patients/me/logs", "patient"),
        ("/api/v1/invitations", "provider"),
    ],
)
def test_an_integer_too_long_to_convert_is_400(client, factory, mongo, path, role):
    headers = factory.headers(factory.user(role)) if role else {}
    users_before = mongo.users.count_documents({})
    raw = b'{"email": "n@example.org", "value": ' + b"9" * 4301 + b"}"
    body = assert_problem(post_raw(client, path, raw, headers=headers), 400)
    assert "JSON" in body["detail"]
    assert mongo.users.count_documents({}) == users_before


@pytest.mark.parametrize(
    "name", ["\u202eevil.exe", "a\u0000b", "tab\tbed", "iso\u2067late", "x\x85y"]
)
def test_control_characters_and_bidi_overrides_in_a_name_are_422(client, factory, mongo, name):
    patient = factory.patient(name="Plain Name")
    response = client.patch("/api/v1/me", json={"name": name}, headers=factory.headers(patient))
    assert "name" in assert_problem(response, 422)["errors"]
    assert mongo.users.find_one({"_id": patient.pk})["name"] == "Plain Name"


def test_control_characters_and_bidi_overrides_are_stripped_from_free_text(client, factory, mongo):
    patient = factory.patient()
    factory.membership(patient, factory.provider())
    body = "Pain since\tMonday\nsee \u202efdp.exe\u202c and \x1b[31mred\x00"
    response = client.post(
        "/api/v1/patients/me/messages", json={"body": body}, headers=factory.headers(patient)
    )
    assert response.status_code == 201, response.get_json()
    expected = "Pain since\tMonday\nsee fdp.exe and [31mred"
    assert response.get_json()["body"] == expected
    assert mongo.messages.find_one()["body"] == expected


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_body_that_is_not_json_is_415_and_nothing_is_stored(client, factory, mongo, content_type):
    patient = factory.patient()
    body = json.dumps({"email": "new@example.org", "password": "a long passphrase 9", "name": "N"})
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(REGISTER, data=body, headers=headers)
    problem = assert_problem(response, 415)
    assert "application/json" in problem["detail"]
    assert mongo.users.count_documents({"email": "new@example.org"}) == 0
    note = client.patch(
        "/api/v1/me", data='{"name": "Other"}', headers={**factory.headers(patient), **headers}
    )
    assert_problem(note, 415)
    assert mongo.users.find_one({"_id": patient.pk})["name"] == patient.name


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/JSON", "application/merge-patch+json"],
)
def test_json_media_types_with_parameters_or_suffixes_are_read(client, factory, content_type):
    patient = factory.patient()
    response = client.patch(
        "/api/v1/me",
        data='{"name": "Renamed"}',
        headers={**factory.headers(patient), "Content-Type": content_type},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Renamed"


def test_a_post_without_a_body_needs_no_content_type(client, factory):
    patient = factory.patient()
    response = client.post("/api/v1/auth/logout", headers=factory.headers(patient))
    assert response.status_code == 204, response.get_data(as_text=True)


def test_a_chunked_body_over_the_limit_is_413_and_a_small_one_is_read(client, mongo):
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    small = b'{"email": "nobody@example.org", "password": "wrong password 1"}'
    for body, status in ((big, 413), (small, 401)):
        response = client.post(
            LOGIN,
            input_stream=io.BytesIO(body),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert_problem(response, status)
