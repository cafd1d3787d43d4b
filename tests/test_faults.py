"""Fault injection: the database fails a command, drops a connection, or is not there at all.

The embedded server runs with `--enable-test-commands`, so MongoDB's `failCommand` fail point
makes it fail chosen commands. The API must answer 503 problem+json with Retry-After (never a
traceback, never a 500), leave nothing half-written, and recover by itself.

Error codes used: 50 (MaxTimeMSExpired) is an ordinary, non-retryable failure; a dropped
connection (`closeConnection`) is retried once by the driver, so it is armed for two or more
commands. (91 and 11600 would make the driver mark the server unknown for seconds.)
"""

import threading
import time
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from pymongo import monitoring

from api import create_app, db
from api.extensions import limiter
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from devserver.embedded import EmbeddedMongo, free_port
from tests.agreement_helpers import circle, plan
from tests.factories import Factory
from tests.log_helpers import GLUCOSE, WALK, entry, periods, post
from tests.log_helpers import plan as log_plan
from tests.test_alerts import rule
from tests.test_reminders import walk

TIMEOUT = 50  # MaxTimeMSExpired


class CommandLog(monitoring.CommandListener):
    """The commands this process sends while recording, to prove where a fault struck."""

    def __init__(self):
        self.recording = False
        self.seen: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()

    def started(self, event):
        pass

    def succeeded(self, event):
        self._record(event, True)

    def failed(self, event):
        self._record(event, False)

    def _record(self, event, ok: bool):
        if self.recording:
            with self._lock:
                self.seen.append((event.command_name, event.database_name, ok))

    def ok(self, name: str) -> bool:
        return any(n == name and ok for n, _, ok in self.seen)


# Registered at import, before the test's app creates its client.
commands = CommandLog()
monitoring.register(commands)


@pytest.fixture
def app_config(mongo_uri):
    # Short timeouts keep the "database gone" cases quick.
    return {
        "CAREPACT_ENV": "test",
        "MONGODB_URI": mongo_uri,
        "MONGODB_TIMEOUT_MS": 1000,
        "READY_TIMEOUT_MS": 500,
    }


@pytest.fixture
def fail(mongo):
    """`fail(["insert"], code=50)` or `fail(["find"], close=True, times=2)`; off afterwards."""
    admin = mongo.client.admin

    def arm(names, *, code=TIMEOUT, close=False, times=None, skip=None):
        data = {"failCommands": list(names)}
        data.update({"closeConnection": True} if close else {"errorCode": code})
        mode = "alwaysOn" if times is None else {"times": times}
        if skip is not None:
            mode = {"skip": skip}
        admin.command("configureFailPoint", "failCommand", mode=mode, data=data)
        commands.seen.clear()
        commands.recording = True

    yield arm
    commands.recording = False
    admin.command("configureFailPoint", "failCommand", mode="off")


def off(mongo):
    mongo.client.admin.command("configureFailPoint", "failCommand", mode="off")
    commands.recording = False


def assert_unavailable(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert "Traceback" not in response.get_data(as_text=True)


# --- every kind of failure is a 503 --------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "options"),
    [
        (["find"], {}),
        (["find"], {"close": True}),
        (["insert"], {}),
        (["findAndModify", "update"], {}),
        (["insert", "findAndModify", "update"], {"close": True}),
    ],
    ids=["find-fails", "find-connection-dropped", "insert-fails", "update-fails", "writes-drop"],
)
def test_a_failing_database_is_a_503_and_a_retry_stores_the_entry_once(
    client, factory, mongo, fail, names, options
):
    p = log_plan(factory)
    body = entry(p)
    fail(names, **options)
    response = (
        client.get("/api/v1/patients/me/logs", headers=p.headers)
        if names == ["find"]
        else post(client, p, body)
    )
    assert_unavailable(response)
    off(mongo)
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 0
    retried = post(client, p, body)
    assert retried.status_code == 201, retried.get_json()
    again = post(client, p, body)
    assert again.status_code == 200
    assert mongo.log_entries.count_documents({"uid": body["id"]}) == 1


def test_a_connection_dropped_once_inside_the_transaction_is_retried_transparently(
    client, factory, mongo, fail
):
    p = log_plan(factory)
    post(client, p, entry(p))  # the summary exists; the next write is the batch's own
    body = {"entries": [entry(p), entry(p, goal="g_glucose", value=120)]}
    # The driver retries a dropped write once; the second drop aborts the transaction,
    # which is then run again from the start.
    fail(["update"], close=True, times=2)
    response = client.post("/api/v1/patients/me/logs/batch", json=body, headers=p.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 2
    uids = [e["id"] for e in body["entries"]]
    assert mongo.log_entries.count_documents({"uid": {"$in": uids}}) == 2


# --- nothing half-written ------------------------------------------------------------------


def _rollups(mongo, patient):
    return {
        ref: (period.get("count"), period.get("total"))
        for ref, period in periods(mongo, patient.pk).items()
    }


@pytest.mark.parametrize(
    ("names", "options"),
    [
        (["update"], {}),  # the rollups, after the entries were inserted
        (["commitTransaction"], {"times": 1}),  # everything written but the commit
    ],
    ids=["rollups-fail", "commit-lost"],
)
def test_a_failed_batch_upload_leaves_nothing_and_its_retry_stores_each_entry_once(
    client, factory, mongo, fail, names, options
):
    p = log_plan(factory, goals=(WALK, GLUCOSE))
    post(client, p, entry(p, value=10))  # the patient's summary and first rollup exist
    summary_before = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    rollups_before = _rollups(mongo, p.patient)
    body = {
        "entries": [
            entry(p, value=20),
            entry(p, goal="g_glucose", value=250),
            entry(p, value=5),
        ]
    }
    uids = [e["id"] for e in body["entries"]]

    fail(names, **options)
    response = client.post("/api/v1/patients/me/logs/batch", json=body, headers=p.headers)
    assert_unavailable(response)
    assert commands.ok("insert"), "the fault must strike after the entries were inserted"
    off(mongo)

    assert mongo.log_entries.count_documents({"uid": {"$in": uids}}) == 0
    assert _rollups(mongo, p.patient) == rollups_before
    summary_after = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary_after["seq"] == summary_before["seq"]
    assert summary_after.get("last_out_of_range_at") == summary_before.get("last_out_of_range_at")

    retried = client.post("/api/v1/patients/me/logs/batch", json=body, headers=p.headers)
    assert retried.status_code == 200
    assert retried.get_json()["created"] == 3
    replayed = client.post("/api/v1/patients/me/logs/batch", json=body, headers=p.headers)
    assert [r["status"] for r in replayed.get_json()["results"]] == ["duplicate"] * 3
    assert mongo.log_entries.count_documents({"uid": {"$in": uids}}) == 3
    # Sequence numbers stay dense: the failed attempt used none.
    seqs = sorted(d["seq"] for d in mongo.log_entries.find({"patient": p.patient.pk}))
    assert seqs == [1, 2, 3, 4]
    walk_today = [v for (goal, _), v in _rollups(mongo, p.patient).items() if goal == "g_walk"]
    assert sum(count for count, _ in walk_today) == 3  # 10, 20 and 5 minutes, once each


def test_a_batch_mixing_replays_and_new_entries_stores_the_new_ones_once(client, factory, mongo):
    p = log_plan(factory)
    replayed, edited = entry(p, value=12), entry(p, value=13)
    for body in (replayed, edited):
        assert post(client, p, body).status_code == 201
    body = {"entries": [replayed, entry(p, value=9), {**edited, "value": 14}]}
    response = client.post("/api/v1/patients/me/logs/batch", json=body, headers=p.headers)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["duplicate", "created", "error"]
    assert results[2]["errors"] == {
        "id": ["An entry with this id already exists with different content."]
    }
    seqs = sorted(d["seq"] for d in mongo.log_entries.find({"patient": p.patient.pk}))
    assert seqs == [1, 2, 3]
    assert mongo.log_entries.find_one({"uid": edited["id"]})["value"] == 13


def test_a_reading_stored_before_its_alert_check_failed_raises_the_alert_on_retry(
    client, factory, mongo, fail
):
    """The write commits, then the database fails under the listeners (the alert check): the
    client sees a 503, and its retry of the same entry (a replay) finishes their work."""
    p = log_plan(factory, goals=(WALK, GLUCOSE))
    rule(client, factory, p, op="below", value=54, unit="mg/dL", severity="urgent")
    # The summary exists, and the day is already missed: the low reading flips nothing, so
    # nothing reads inside the transaction.
    post(client, p, entry(p, goal="g_glucose", value=60))
    low = entry(p, goal="g_glucose", value=45)

    fail(["find"], skip=1)  # the alert rules are read; the alert check's next read fails
    assert_unavailable(post(client, p, low))
    assert commands.ok("commitTransaction"), "the fault must strike after the commit"
    off(mongo)
    assert mongo.log_entries.count_documents({"uid": low["id"]}) == 1
    assert mongo.alerts.count_documents({}) == 0

    replayed = post(client, p, low)
    assert replayed.status_code == 200, replayed.get_json()
    [alert] = mongo.alerts.find({"status": "open"})
    assert alert["severity"] == "urgent"
    assert mongo.log_entries.count_documents({"uid": low["id"]}) == 1
    again = post(client, p, low)
    assert again.status_code == 200
    assert mongo.alerts.count_documents({}) == 1
    told = mongo.notifications.count_documents({"kind": "alert"})
    assert told >= 1
    assert post(client, p, low).status_code == 200
    assert mongo.notifications.count_documents({"kind": "alert"}) == told


def _proposed(client, factory):
    people = circle(factory, lean=True)
    created = client.post(people.url(), json=plan(), headers=people.headers["provider"])
    assert created.status_code == 201, created.get_json()
    aid = created.get_json()["id"]
    proposed = client.post(people.url(f"/{aid}/propose"), headers=people.headers["provider"])
    assert proposed.status_code == 200, proposed.get_json()
    return people, aid


def test_a_failed_accept_leaves_no_version_and_can_be_retried(client, factory, mongo, fail):
    people, aid = _proposed(client, factory)
    accept = people.url(f"/{aid}/accept")
    fail(["findAndModify"])  # the flip to active, after the version was inserted
    response = client.post(accept, headers=people.headers["patient"])
    assert_unavailable(response)
    assert commands.ok("insert"), "the fault must strike after the version was inserted"
    off(mongo)

    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert stored["status"] == "proposed"
    assert "accepted_version" not in stored or stored["accepted_version"] in (None, 0)
    assert mongo.agreement_versions.count_documents({"agreement": stored["_id"]}) == 0

    retried = client.post(accept, headers=people.headers["patient"])
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] == "active"
    assert retried.get_json()["accepted_version"] == 1
    assert mongo.agreement_versions.count_documents({"agreement": stored["_id"]}) == 1


def test_a_failed_accept_does_not_end_the_agreement_it_would_replace(client, factory, mongo, fail):
    people, aid = _proposed(client, factory)
    older = factory.agreement(people.patient, people.provider, conditions=["type 2 diabetes"])
    accept = people.url(f"/{aid}/accept")
    # The flip succeeds; completing the older agreement (the second findAndModify) fails.
    fail(["findAndModify"], skip=1)
    response = client.post(accept, headers=people.headers["patient"])
    assert_unavailable(response)
    off(mongo)

    assert mongo.agreements.find_one({"_id": older.pk})["status"] == "active"
    new = mongo.agreements.find_one({"status": "proposed", "patient": people.patient.pk})
    assert str(new["_id"]) == aid
    assert mongo.agreement_versions.count_documents({"agreement": new["_id"]}) == 0

    retried = client.post(accept, headers=people.headers["patient"])
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["completed_agreements"] == [str(older.pk)]
    assert mongo.agreements.find_one({"_id": older.pk})["status"] == "completed"


# --- the worker ----------------------------------------------------------------------------


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def _walkers(factory, n=3):
    patients = []
    for _ in range(n):
        patient = factory.patient(timezone="UTC")
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00", "08:01"])])
        patients.append(patient)
    return patients


def _tick(now):
    return dispatch.tick(now, worker="w1")


@pytest.mark.parametrize(
    "names",
    [["insert"], ["update"]],
    ids=["inbox-insert-fails", "slice-release-fails-after-delivery"],
)
def test_an_interrupted_dispatch_tick_delivers_every_reminder_exactly_once(
    factory, mongo, fail, names
):
    patients = _walkers(factory)
    reminders.plan_all(utc(2025, 1, 15, 0, 0))
    due = utc(2025, 1, 15, 8, 0)
    fail(names)
    with pytest.raises(Exception) as raised:
        _tick(due)
    assert "failpoint" in str(raised.value)
    off(mongo)
    delivered_during_fault = mongo.notifications.count_documents({})
    assert delivered_during_fault == (0 if names == ["insert"] else 3)

    # The failed worker's lease holds the minute until it expires; then it is redone.
    assert _tick(due) == {}
    later = due + dispatch.LEASE
    _tick(later)
    _tick(later + dispatch.LEASE)
    for patient in patients:
        keys = [n["key"] for n in mongo.notifications.find({"patient": patient.pk})]
        assert sorted(keys) == ["goal:g_walk:2025-01-15T08:00", "goal:g_walk:2025-01-15T08:01"]
    assert mongo.notifications.count_documents({}) == 6
    assert mongo.reminder_slices.count_documents({"open": True, "_id": {"$lte": later}}) == 0


# --- the database down at start, then back -------------------------------------------------


def test_the_app_starts_without_its_database_and_recovers_when_it_appears():
    port = free_port()
    uri = f"mongodb://127.0.0.1:{port}/faults_down?directConnection=true"
    app = create_app(
        {
            "CAREPACT_ENV": "test",
            "MONGODB_URI": uri,
            "MONGODB_TIMEOUT_MS": 1000,
            "READY_TIMEOUT_MS": 500,
        }
    )
    client = app.test_client()
    server = EmbeddedMongo(port=port)
    try:
        with app.app_context():
            assert client.get("/health").status_code == 200
            down = client.get("/ready")
            assert_unavailable(down)
            assert down.get_json()["detail"] == "The database is not reachable."

            server.start()
            deadline = time.monotonic() + 20
            while (ready := client.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, ready.get_json()
                time.sleep(0.2)
            assert ready.get_json() == {"status": "ready"}

            patient = Factory(app).patient()
            profile = client.get("/api/v1/me", headers=Factory(app).headers(patient))
            assert profile.status_code == 200
            assert profile.get_json()["id"] == str(patient.pk)
    finally:
        limiter.storage.close()
        db.disconnect()
        server.stop()


def test_a_logout_failing_part_way_revokes_nothing_and_its_retry_does(client, factory, mongo, fail):
    """The revocations and the patient's new sessions revision are one transaction: a failure
    at the revision leaves no revocation that processes remembering the token (it is
    remembered here) would never read for."""
    p = log_plan(factory)
    for _ in range(2):
        assert post(client, p, entry(p)).status_code == 201
    fail(["update"], skip=2)  # the token's and its sign-in's revocations; then the revision
    assert_unavailable(client.post("/api/v1/auth/logout", headers=p.headers))
    off(mongo)
    assert mongo.revocations.count_documents({}) == 0
    assert post(client, p, entry(p)).status_code == 201  # still signed in, as they were told
    assert client.post("/api/v1/auth/logout", headers=p.headers).status_code == 204
    assert mongo.revocations.count_documents({}) == 2
    refused = post(client, p, entry(p))
    assert refused.status_code == 401, refused.get_json()
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 3
