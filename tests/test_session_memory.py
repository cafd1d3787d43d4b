"""A patient's own token on the logging routes is checked for revocation by the write
(`session_memory`): no read once the process remembers it unrevoked, and still refused at
once by every kind of revocation, whatever the request would otherwise have answered."""

import time

from bson import ObjectId

from api.services.identity import session_memory, tokens
from api.services.tracking import agreement_memory
from tests.factories import PASSWORD
from tests.log_helpers import entry, plan, post
from tests.test_foundation import assert_problem
from tests.test_logging_cost import commands_sent


def assert_revoked(response):
    body = assert_problem(response, 401)
    assert body["detail"] == "The token has been revoked."
    assert response.headers["WWW-Authenticate"] == "Bearer"


def entries_of(mongo, p) -> int:
    return mongo.log_entries.count_documents({"patient": p.patient.pk})


def remembered(client, p) -> None:
    """Two entries: the first reads for the token in its write, the second recalls it."""
    assert post(client, p, entry(p)).status_code == 201
    before = commands_sent("find")
    assert post(client, p, entry(p)).status_code == 201
    assert commands_sent("find") == before  # neither the revocation nor the agreement read


def test_the_first_entry_reads_for_the_token_and_the_next_one_does_not(client, factory, mongo):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201  # the patient's first: their summary
    session_memory.forget_all()  # as in a process that has not seen this token yet
    agreement_memory.forget_all()
    before = commands_sent("find")
    assert post(client, p, entry(p)).status_code == 201
    # The agreement and the revocation reads, both inside the write.
    assert commands_sent("find") - before == 2
    before = commands_sent()
    assert post(client, p, entry(p)).status_code == 201
    # The summary, the insert, the rollup, the commit.
    assert commands_sent() - before == 4
    assert entries_of(mongo, p) == 3


def test_logging_out_refuses_the_next_entry_at_once(client, factory, mongo):
    p = plan(factory)
    remembered(client, p)
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    assert_revoked(post(client, p, entry(p)))
    assert_revoked(post(client, p, entry(p), pid=str(p.patient.pk)))
    assert entries_of(mongo, p) == 2


def test_a_password_change_refuses_the_next_entry_at_once(client, factory, mongo):
    p = plan(factory)
    remembered(client, p)
    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase 7"},
        headers=p.headers,
    )
    assert changed.status_code == 204, changed.get_json()
    assert_revoked(post(client, p, entry(p)))
    assert entries_of(mongo, p) == 2


def test_a_reused_refresh_token_ends_its_access_tokens_on_the_logging_route(client, factory, mongo):
    p = plan(factory)
    pair = factory.tokens(p.patient)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert post(client, p, entry(p), headers=headers).status_code == 201
    assert post(client, p, entry(p), headers=headers).status_code == 201
    spend = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=spend).status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=spend).status_code == 401  # reused
    assert_revoked(post(client, p, entry(p), headers=headers))
    assert entries_of(mongo, p) == 2


def test_a_revoked_token_learns_nothing_from_a_bad_body(client, factory, mongo):
    p = plan(factory)
    remembered(client, p)
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    for body in (
        {**entry(p), "value": "lots"},
        {**entry(p), "agreement_id": str(ObjectId())},
        {"id": "not a uuid"},
    ):
        assert_revoked(post(client, p, body))
    assert_revoked(client.post("/api/v1/patients/me/logs/batch", json={}, headers=p.headers))
    # Another patient's record: checked as any request is, before anything else.
    other = plan(factory)
    assert_revoked(post(client, p, entry(other), pid=str(other.patient.pk)))
    assert entries_of(mongo, p) == 2


def test_a_replay_with_a_revoked_token_is_refused(client, factory, mongo):
    p = plan(factory)
    body = entry(p)
    assert post(client, p, body).status_code == 201
    assert post(client, p, body).status_code == 200  # a replay, token remembered
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    assert_revoked(post(client, p, body))


def test_a_batch_checks_the_token_in_its_write(client, factory, mongo):
    p = plan(factory)
    remembered(client, p)
    before = commands_sent("find")
    batch = client.post(
        "/api/v1/patients/me/logs/batch",
        json={"entries": [entry(p), entry(p)]},
        headers=p.headers,
    )
    assert batch.status_code == 200 and batch.get_json()["created"] == 2
    assert commands_sent("find") - before == 1  # the agreement (a batch reads it fresh)
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    refused = client.post(
        "/api/v1/patients/me/logs/batch", json={"entries": [entry(p)]}, headers=p.headers
    )
    assert_revoked(refused)
    assert entries_of(mongo, p) == 4


def test_a_summary_made_again_remembers_nothing_of_the_old_one(client, factory, mongo):
    """Erasure revokes, then deletes the summary: a revoked token creates nothing (not even a
    summary), and a summary created later has a revision of its own, so no token remembered
    under the old one passes unread."""
    p = plan(factory)
    remembered(client, p)
    first = mongo.adherence_summaries.find_one({"_id": p.patient.pk})["sessions_rev"]
    # What erasure removes: the summary, then the records.
    mongo.adherence_summaries.delete_one({"_id": p.patient.pk})
    mongo.log_entries.delete_many({"patient": p.patient.pk})
    tokens.revoke_user(p.patient.pk, "account_erased")  # no summary to move
    assert_revoked(post(client, p, entry(p)))
    assert mongo.adherence_summaries.find_one({"_id": p.patient.pk}) is None
    time.sleep(0.005)  # a token issued after the revocation's instant
    signed_in_again = factory.headers(p.patient)
    assert post(client, p, entry(p), headers=signed_in_again).status_code == 201
    again = mongo.adherence_summaries.find_one({"_id": p.patient.pk})["sessions_rev"]
    assert isinstance(again, ObjectId) and again != first
    assert_revoked(post(client, p, entry(p)))
    assert entries_of(mongo, p) == 1


def test_a_caregivers_token_is_checked_as_on_every_route(client, factory, mongo):
    """A patient who is also a caregiver: their token on the child's record is read for, not
    confirmed against the child's summary."""
    p = plan(factory)
    parent = plan(factory)
    factory.grant(p.patient, parent.patient, permissions=("log",))
    for_child = entry(p)
    first = post(client, p, for_child, pid=str(p.patient.pk), headers=parent.headers)
    assert first.status_code == 201, first.get_json()
    remembered(client, parent)  # remembered on their own summary
    before = commands_sent("find")
    response = post(client, p, entry(p), pid=str(p.patient.pk), headers=parent.headers)
    assert response.status_code == 201, response.get_json()
    assert commands_sent("find") - before >= 1  # the revocation read
    assert client.post("/api/v1/auth/logout", headers=parent.headers).status_code == 204
    assert_revoked(post(client, p, entry(p), pid=str(p.patient.pk), headers=parent.headers))
    assert entries_of(mongo, p) == 2


def test_the_summary_carries_a_new_revision_after_each_revocation(client, factory, mongo):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    seen = {mongo.adherence_summaries.find_one({"_id": p.patient.pk})["sessions_rev"]}
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    seen.add(mongo.adherence_summaries.find_one({"_id": p.patient.pk})["sessions_rev"])
    assert len(seen) == 2
    # A provider has no summary: revoking their tokens creates none.
    provider = factory.provider()
    logout = client.post("/api/v1/auth/logout", headers=factory.headers(provider))
    assert logout.status_code == 204
    assert mongo.adherence_summaries.find_one({"_id": provider.pk}) is None
