"""Idempotency-Key: a retried write replays its stored outcome and never runs twice."""

import pytest

from tests.test_foundation import assert_problem

KEY = "7d0c7f0e-2b7a-4c1e-9a7e-3f5f0e9b1c11"


@pytest.fixture
def provider(factory):
    return factory.provider()


def invite(client, factory, provider, key=KEY, body=None):
    headers = {**factory.headers(provider), "Idempotency-Key": key}
    return client.post("/api/v1/invitations", json=body or {"valid_days": 7}, headers=headers)


def test_a_retry_replays_the_first_response_and_writes_once(client, factory, mongo, provider):
    first = invite(client, factory, provider)
    assert first.status_code == 201
    retry = invite(client, factory, provider)
    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert mongo.invitations.count_documents({}) == 1


def test_the_same_key_with_another_body_is_422(client, factory, mongo, provider):
    assert invite(client, factory, provider).status_code == 201
    body = assert_problem(invite(client, factory, provider, body={"valid_days": 3}), 422)
    assert "Idempotency-Key" in body["errors"]
    assert mongo.invitations.count_documents({}) == 1


def test_keys_are_scoped_to_the_user(client, factory, mongo, provider):
    other = factory.provider()
    assert invite(client, factory, provider).status_code == 201
    second = invite(client, factory, other)
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert mongo.invitations.count_documents({}) == 2


def test_without_a_key_every_request_runs(client, factory, mongo, provider):
    headers = factory.headers(provider)
    for _ in range(2):
        assert client.post("/api/v1/invitations", json={}, headers=headers).status_code == 201
    assert mongo.invitations.count_documents({}) == 2


def test_a_validation_error_is_replayed_too(client, factory, mongo, provider):
    first = invite(client, factory, provider, body={"valid_days": 999})
    assert_problem(first, 422)
    retry = invite(client, factory, provider, body={"valid_days": 999})
    assert retry.status_code == 422 and retry.headers["Idempotent-Replayed"] == "true"
    assert mongo.invitations.count_documents({}) == 0


def test_a_retry_while_the_first_still_runs_is_409(client, factory, mongo, provider):
    assert invite(client, factory, provider).status_code == 201
    mongo.idempotency_records.update_one({}, {"$set": {"completed": False}})
    response = invite(client, factory, provider)
    assert_problem(response, 409)
    assert response.headers["Retry-After"] == "1"
    assert mongo.invitations.count_documents({}) == 1


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 200])
def test_malformed_keys_are_422(client, factory, mongo, provider, key):
    body = assert_problem(invite(client, factory, provider, key=key), 422)
    assert "Idempotency-Key" in body["errors"]
    assert mongo.invitations.count_documents({}) == 0


def test_server_errors_release_the_key(app, client, factory, mongo, provider):
    calls = []

    @app.post("/api/v1/flaky")
    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient")
        return {"ok": True}, 201

    headers = {**factory.headers(provider), "Idempotency-Key": KEY}
    assert client.post("/api/v1/flaky", json={}, headers=headers).status_code == 500
    retry = client.post("/api/v1/flaky", json={}, headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert len(calls) == 2
    assert mongo.idempotency_records.find_one({"_id": f"{provider.pk}:{KEY}"})["completed"]


def test_anonymous_and_expired_tokens_are_left_to_the_view(client, mongo):
    response = client.post(
        "/api/v1/invitations",
        json={},
        headers={"Authorization": "Bearer nonsense", "Idempotency-Key": KEY},
    )
    assert_problem(response, 401)
    assert mongo.idempotency_records.count_documents({}) == 0


def test_a_stored_answer_never_keeps_a_one_time_code_in_plain_text(
    client, factory, mongo, provider
):
    first = invite(client, factory, provider)
    code = first.get_json()["code"]
    stored = mongo.idempotency_records.find_one()
    assert code.encode() not in bytes(stored["body"])
    assert b"expires_at" not in bytes(stored["body"])
    retry = invite(client, factory, provider)
    assert retry.get_json()["code"] == code


def test_a_stored_answer_moved_to_another_key_does_not_open(client, factory, mongo, provider):
    assert invite(client, factory, provider).status_code == 201
    other = "0b2c5f0e-2b7a-4c1e-9a7e-3f5f0e9b1c99"
    assert invite(client, factory, provider, key=other).status_code == 201
    first = mongo.idempotency_records.find_one({"_id": f"{provider.pk}:{KEY}"})
    mongo.idempotency_records.update_one(
        {"_id": f"{provider.pk}:{other}"}, {"$set": {"body": first["body"]}}
    )
    assert_problem(invite(client, factory, provider, key=other), 422)
