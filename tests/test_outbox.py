"""The push outbox: queued by requests and ticks, sent by the worker to a loopback webhook.

Once per (notification, device) under a retried tick and racing workers; a worker killed
mid-send leaves its lease to expire and another sends; backoff, then failed for good with its
reason; a dead token removes the device; a device removed meanwhile is dropped, not sent; a
webhook that hangs changes no request's latency.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.clock import utcnow
from api.services.notify import outbox, push
from api.services.notify.push import LogChannel
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from tests.log_helpers import GLUCOSE, entry, plan, post
from tests.test_alerts import rule
from tests.test_push import SECRET, Loopback
from tests.test_reminders import walk
from tests.worker_process import WorkerProcess

DUE = datetime(2025, 1, 15, 8, tzinfo=UTC)


@pytest.fixture
def loopback():
    server = Loopback()
    yield server
    server.close()


def webhook(loopback, timeout=0.5):
    return push.WebhookChannel(loopback.url, SECRET, timeout=timeout, max_attempts=1)


DEFAULT = outbox.Policy()


def send(channel, now=DUE, worker="w", policy=DEFAULT):
    return outbox.send_due(now=now, worker=worker, push=channel, mailer=None, policy=policy)


def patient_with_reminder(factory, mongo, *tokens, owner=None, name="Ada Child"):
    patient = factory.patient(timezone="UTC", name=name)
    factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
    for token in tokens:
        mongo.devices.insert_one(
            {
                "patient": patient.pk,
                "owner": owner or patient.pk,
                "platform": "android",
                "token": token,
                "created_at": DUE - timedelta(days=14),
                "updated_at": DUE - timedelta(days=14),
            }
        )
    reminders.plan_all(DUE - timedelta(hours=8))
    if tokens:
        reminders.devices_registered(patient.pk, DUE - timedelta(hours=8))
    return patient


def pushed(loopback) -> list[tuple[str, str]]:
    return [
        (json.loads(r["body"])["key"], json.loads(r["body"])["token"]) for r in loopback.requests
    ]


class TestOncePerDevice:
    def test_a_retried_tick_queues_and_sends_nothing_twice(self, factory, mongo, loopback):
        patient_with_reminder(factory, mongo, "phone", "tablet")
        assert dispatch.tick(DUE, worker="w") == {"delivered": 1, "pushes_queued": 2, "slices": 1}
        # The same minute delivered again (a worker that crashed before closing the slice).
        dispatch.deliver_slice(DUE, DUE, {})
        assert mongo.outbox.count_documents({}) == 2
        assert send(webhook(loopback)) == {"push_sent": 2}
        dispatch.deliver_slice(DUE, DUE, {})  # and again, after the pushes went
        assert send(webhook(loopback), DUE + timedelta(hours=1)) == {}
        key = "goal:g_walk:2025-01-15T08:00"
        assert sorted(pushed(loopback)) == [(key, "phone"), (key, "tablet")]
        ids = sorted(e["_id"] for e in mongo.outbox.find())
        assert all(
            i.startswith(f"push:{mongo.users.find_one({'role': 'patient'})['_id']}:{key}:")
            for i in ids
        )

    def test_patients_without_devices_cost_no_outbox_write(self, factory, mongo):
        patient_with_reminder(factory, mongo)
        assert dispatch.tick(DUE, worker="w") == {"delivered": 1, "slices": 1}
        assert mongo.outbox.count_documents({}) == 0

    def test_two_workers_racing_send_each_push_once(self, factory, mongo, loopback):
        for n in range(12):
            patient_with_reminder(factory, mongo, f"phone-{n}", f"tablet-{n}", name=f"P{n}")
        dispatch.tick(DUE, worker="w")
        assert mongo.outbox.count_documents({}) == 24
        loopback.replies = ["hang"] * 24  # every send takes a while: the workers overlap
        loopback.hang_s = 0.05
        results = []
        threads = [
            threading.Thread(
                target=lambda name: results.append(send(webhook(loopback), worker=name)),
                args=(name,),
            )
            for name in ("host-a:1", "host-b:1")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r.get("push_sent", 0) for r in results) == 24
        assert len(pushed(loopback)) == len(set(pushed(loopback))) == 24
        assert mongo.outbox.count_documents({"state": "sent", "attempts": 1}) == 24

    def test_a_caregivers_device_is_told_whose_reminder_it_is(self, factory, mongo, loopback):
        parent = factory.user("patient", name="Parent")
        patient_with_reminder(factory, mongo, "parent-phone", owner=parent.pk)
        dispatch.tick(DUE, worker="w")
        send(webhook(loopback))
        [request] = loopback.requests
        assert json.loads(request["body"])["title"] == "For Ada Child: Walk 30 minutes"


class TestFailures:
    def test_a_dead_token_removes_the_device(self, factory, mongo, loopback):
        patient_with_reminder(factory, mongo, "stale-token", "good-token")
        dispatch.tick(DUE, worker="w")
        loopback.replies = [(410, {}), (200, {})]
        assert send(webhook(loopback)) == {"push_dropped": 1, "push_sent": 1}
        assert [d["token"] for d in mongo.devices.find()] == ["good-token"]
        dropped = mongo.outbox.find_one({"state": "dropped"})
        assert dropped["last_error"] == "token unregistered: device removed"
        assert "title" not in dropped and "body" not in dropped

    def test_backoff_then_failed_for_good_with_its_reason(self, factory, mongo, loopback):
        patient_with_reminder(factory, mongo, "token-1")
        dispatch.tick(DUE, worker="w")
        loopback.replies = [(500, {})] * 3
        policy = outbox.Policy(push_attempts=3, backoff=timedelta(seconds=10))
        assert send(webhook(loopback), DUE, policy=policy) == {"push_retrying": 1}
        first = mongo.outbox.find_one()
        assert (first["state"], first["last_error"]) == ("pending", "HTTP 500")
        assert 10 <= (first["due_at"] - DUE).total_seconds() < 11
        assert send(webhook(loopback), first["due_at"] - timedelta(seconds=1), policy=policy) == {}
        assert send(webhook(loopback), first["due_at"], policy=policy) == {"push_retrying": 1}
        second = mongo.outbox.find_one()
        assert 20 <= (second["due_at"] - first["due_at"]).total_seconds() < 21  # doubled
        assert send(webhook(loopback), second["due_at"], policy=policy) == {"push_failed": 1}
        failed = mongo.outbox.find_one()
        assert (failed["state"], failed["last_error"]) == ("failed", "HTTP 500 after 3 attempts")
        assert send(webhook(loopback), DUE + timedelta(days=1), policy=policy) == {}
        assert len(loopback.requests) == 3
        assert mongo.notifications.count_documents({}) == 1  # the inbox has it regardless

    def test_a_refusal_fails_at_once(self, factory, mongo, loopback):
        patient_with_reminder(factory, mongo, "token-1")
        dispatch.tick(DUE, worker="w")
        loopback.replies = [(400, {})]
        assert send(webhook(loopback)) == {"push_failed": 1}
        assert mongo.outbox.find_one()["last_error"] == "HTTP 400"

    def test_a_device_removed_meanwhile_is_dropped_not_sent(self, client, factory, mongo, loopback):
        patient = factory.patient(timezone="UTC")
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        device = client.post(
            "/api/v1/patients/me/devices",
            json={"platform": "ios", "token": "soon-gone"},
            headers=factory.headers(patient),
        ).get_json()
        reminders.plan_all(DUE - timedelta(hours=8))
        dispatch.tick(DUE, worker="w")
        assert mongo.outbox.count_documents({"state": "pending"}) == 1
        gone = client.delete(
            f"/api/v1/patients/me/devices/{device['id']}", headers=factory.headers(patient)
        )
        assert gone.status_code == 204
        assert send(webhook(loopback)) == {"push_dropped": 1}
        assert loopback.requests == []
        assert mongo.outbox.find_one()["last_error"] == "device removed"


def urgent_plan(client, factory):
    p = plan(factory, goals=(GLUCOSE,))
    rule(client, factory, p, op="below", value=54, unit="mg/dL", severity="urgent")
    device = client.post(
        "/api/v1/patients/me/devices",
        json={"platform": "android", "token": "phone-token-1"},
        headers=p.headers,
    )
    assert device.status_code == 201
    return p


def low_reading(client, p):
    at = datetime.now(UTC) - timedelta(minutes=1)
    return post(client, p, entry(p, goal="g_glucose", value=45, at=at))


class TestNoNetworkInRequests:
    def test_a_hanging_webhook_changes_no_requests_latency(
        self, app, client, factory, mongo, loopback
    ):
        app.config.update(
            PUSH_CHANNEL="webhook", PUSH_WEBHOOK_URL=loopback.url, PUSH_WEBHOOK_SECRET=SECRET
        )
        loopback.replies = ["hang"] * 10
        loopback.hang_s = 30
        p = urgent_plan(client, factory)
        started = time.perf_counter()
        response = low_reading(client, p)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.get_json()
        assert elapsed < 2.0  # a webhook call alone would take 30 s
        assert loopback.requests == []
        [queued] = mongo.outbox.find()
        assert queued["state"] == "pending" and queued["title"].startswith("Urgent")
        # The worker meets the hang, gives up at its timeout and tries again later.
        started = time.perf_counter()
        assert send(webhook(loopback, timeout=0.3), utcnow()) == {"push_retrying": 1}
        assert time.perf_counter() - started < 5
        assert "timed out" in mongo.outbox.find_one()["last_error"]


class TestWorkerProcess:
    def test_a_worker_killed_mid_send_leaves_it_to_another_after_its_lease(
        self, client, factory, mongo, mongo_uri, loopback
    ):
        p = urgent_plan(client, factory)
        loopback.replies = ["hang"]
        loopback.hang_s = 60
        worker = WorkerProcess(
            mongo_uri,
            PUSH_CHANNEL="webhook",
            PUSH_WEBHOOK_URL=loopback.url,
            PUSH_WEBHOOK_SECRET=SECRET,
            PUSH_TIMEOUT_S=60,
        ).start()
        try:
            assert low_reading(client, p).status_code == 201
            worker.wait_for(lambda: loopback.requests, 20, "the worker's first push")
            worker.kill()
        finally:
            worker.stop()
        held = mongo.outbox.find_one()
        assert held["state"] == "pending" and held["attempts"] == 1 and held["lease_owner"]
        assert send(LogChannel(), utcnow(), worker="other:1") == {}  # the lease still holds
        lease_end = held["due_at"]
        assert send(webhook(loopback), lease_end, worker="other:1") == {"push_sent": 1}
        done = mongo.outbox.find_one()
        assert (done["state"], done["attempts"]) == ("sent", 2)
        assert len(loopback.requests) == 2
