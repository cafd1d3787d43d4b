"""The outreach jobs: campaign delivery (once, however many workers; after a crash; opt-out;
quiet hours) and the 7-day education nudge, run as functions with an explicit `now`."""

import threading
from datetime import timedelta

import pytest
from bson import ObjectId

from api.clock import utcnow
from api.schemas import shipped
from api.services.care import education
from api.services.clinic import campaigns
from api.services.notify import outbox
from api.services.notify.push import PushResult
from jobs.outreach import nudge_education
from tests.test_campaigns import ITEM, body, post
from tests.test_population import enrol, make_clinic


class RecordingChannel:
    """Keeps the key of every push the worker sends."""

    name = "recording"

    def __init__(self):
        self.sent: list = []

    def send(self, message):
        self.sent.append(message.key)
        return PushResult(True)


@pytest.fixture
def clinic(client, factory):
    education.load_starter_library(shipped.starter_items())
    provider = factory.provider()
    return provider, make_clinic(client, factory, provider)


def campaign_with(client, factory, provider, cid, count: int) -> tuple[list, dict]:
    patients = [
        enrol(client, factory, provider, education=[{"title": "Feet", "item_id": ITEM}])
        for _ in range(count)
    ]
    created = post(client, factory, provider, cid, body())
    assert created.status_code == 201, created.get_json()
    return patients, created.get_json()


def inbox(mongo, campaign: dict) -> list:
    return list(mongo.notifications.find({"key": f"campaign:{campaign['id']}"}))


class TestDelivery:
    def test_two_workers_ticking_together_deliver_once(self, client, factory, clinic, mongo):
        provider, cid = clinic
        patients, created = campaign_with(client, factory, provider, cid, 3)
        now = utcnow()
        results = []
        start = threading.Barrier(2)

        def tick(worker):
            start.wait()
            results.append(campaigns.deliver_due(now=now, worker=worker))

        threads = [threading.Thread(target=tick, args=(w,)) for w in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r.get("campaign_rounds", 0) for r in results) == 1
        assert sum(r.get("outreach_delivered", 0) for r in results) == 3
        assert sorted(n["patient"] for n in inbox(mongo, created)) == sorted(p.pk for p in patients)
        # Later ticks find nothing to do.
        assert campaigns.deliver_due(now=now + timedelta(hours=1), worker="a") == {}
        stored = mongo.campaigns.find_one({"_id": ObjectId(created["id"])})
        assert stored["status"] == "sent" and "open" not in stored and stored["work"] == []

    def test_a_held_lease_keeps_the_other_worker_out(self, client, factory, clinic, mongo):
        provider, cid = clinic
        _, created = campaign_with(client, factory, provider, cid, 2)
        now = utcnow()
        claimed = campaigns.claim(now, "a")
        assert campaigns.deliver_due(now=now, worker="b") == {}
        campaigns.deliver_round(claimed, now, "a", {})
        assert len(inbox(mongo, created)) == 2

    def test_after_a_crash_the_lease_expires_and_nothing_is_sent_twice(
        self, client, factory, clinic, mongo
    ):
        provider, cid = clinic
        patients = [enrol(client, factory, provider) for _ in range(3)]
        device = client.post(
            "/api/v1/patients/me/devices",
            json={"platform": "android", "token": "device-token-0001"},
            headers=factory.headers(patients[0]),
        )
        assert device.status_code == 201, device.get_json()
        created = post(client, factory, provider, cid, body()).get_json()
        now = utcnow()
        campaigns.deliver_due(now=now, worker="crashed")
        # The worker died after writing the inbox and the outbox, before closing the round.
        mongo.campaigns.update_one(
            {"_id": ObjectId(created["id"])},
            {
                "$set": {
                    "open": True,
                    "status": "sending",
                    "work": [p.pk for p in patients],
                    "lease_owner": "crashed",
                    "lease_until": now + campaigns.LEASE,
                }
            },
        )
        assert len(inbox(mongo, created)) == 3
        # Until the lease runs out, nobody takes the round over.
        assert campaigns.deliver_due(now=now + timedelta(minutes=1), worker="b") == {}
        later = now + campaigns.LEASE + timedelta(seconds=1)
        counts = campaigns.deliver_due(now=later, worker="b")
        assert counts["campaign_rounds"] == 1
        assert counts.get("outreach_delivered", 0) == 0
        assert len(inbox(mongo, created)) == 3
        assert mongo.outbox.count_documents({}) == 1  # one device: one push, queued once
        channel = RecordingChannel()
        outbox.send_due(now=later, worker="b", push=channel, mailer=None)
        outbox.send_due(now=later + timedelta(hours=1), worker="b", push=channel, mailer=None)
        assert channel.sent == [f"campaign:{created['id']}"]
        stored = mongo.campaigns.find_one({"_id": ObjectId(created["id"])})
        assert stored["status"] == "sent" and stored["work"] == []
        outcome = client.get(
            f"/api/v1/clinics/{cid}/campaigns/{created['id']}", headers=factory.headers(provider)
        ).get_json()
        assert (outcome["targeted"], outcome["delivered"]) == (3, 3)

    def test_a_patient_who_opted_out_is_never_reached(self, client, factory, clinic, mongo):
        provider, cid = clinic
        patients, created = campaign_with(client, factory, provider, cid, 3)
        changed = client.patch(
            "/api/v1/me", json={"outreach_opt_out": True}, headers=factory.headers(patients[0])
        )
        assert changed.status_code == 200, changed.get_json()
        campaigns.deliver_due(now=utcnow(), worker="a")
        reached = {n["patient"] for n in inbox(mongo, created)}
        assert reached == {patients[1].pk, patients[2].pk}
        outcome = client.get(
            f"/api/v1/clinics/{cid}/campaigns/{created['id']}", headers=factory.headers(provider)
        ).get_json()
        assert (outcome["delivered"], outcome["opted_out"]) == (2, 1)
        # A campaign created now does not target them at all.
        again = post(client, factory, provider, cid, body()).get_json()
        assert again["cohort_size"] == 2

    def test_quiet_hours_hold_the_message_until_they_end(self, client, factory, clinic, mongo):
        provider, cid = clinic
        patients, created = campaign_with(client, factory, provider, cid, 2)
        now = utcnow()
        hours = {
            "start": (now - timedelta(hours=1)).strftime("%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        }
        changed = client.patch(
            "/api/v1/me", json={"quiet_hours": hours}, headers=factory.headers(patients[0])
        )
        assert changed.status_code == 200, changed.get_json()
        counts = campaigns.deliver_due(now=now, worker="a")
        assert (counts["outreach_delivered"], counts["outreach_deferred"]) == (1, 1)
        assert {n["patient"] for n in inbox(mongo, created)} == {patients[1].pk}
        stored = mongo.campaigns.find_one({"_id": ObjectId(created["id"])})
        assert stored["status"] == "sending" and stored["work"] == [patients[0].pk]
        assert campaigns.deliver_due(now=now + timedelta(minutes=30), worker="a") == {}
        counts = campaigns.deliver_due(now=now + timedelta(hours=2), worker="b")
        assert counts["outreach_delivered"] == 1
        assert len(inbox(mongo, created)) == 2
        assert mongo.campaigns.find_one({"_id": ObjectId(created["id"])})["status"] == "sent"

    def test_a_campaign_for_later_waits_for_its_time(self, client, factory, clinic, mongo):
        provider, cid = clinic
        enrol(client, factory, provider)
        send_at = utcnow() + timedelta(days=2)
        data = body(send_at=send_at.isoformat())
        created = post(client, factory, provider, cid, data).get_json()
        assert campaigns.deliver_due(now=utcnow(), worker="a") == {}
        assert inbox(mongo, created) == []
        campaigns.deliver_due(now=send_at, worker="a")
        assert len(inbox(mongo, created)) == 1


class TestEducationNudge:
    def test_one_nudge_per_item_still_new_after_7_days(self, client, factory, clinic, mongo):
        provider, _ = clinic
        waiting = enrol(client, factory, provider, education=[{"title": "Feet", "item_id": ITEM}])
        reader = enrol(client, factory, provider, education=[{"title": "Feet", "item_id": ITEM}])
        viewed = client.post(
            f"/api/v1/patients/me/education/{ITEM}/progress",
            json={"status": "viewed"},
            headers=factory.headers(reader),
        )
        assert viewed.status_code in (200, 201), viewed.get_json()
        now = utcnow()
        assert nudge_education(now + timedelta(days=6)) == {}
        first = nudge_education(now + timedelta(days=8))
        assert first["education_nudged"] == 1
        assert nudge_education(now + timedelta(days=9)) == {}
        nudges = list(mongo.notifications.find({"kind": "education"}))
        assert [(n["patient"], n["key"]) for n in nudges] == [
            (waiting.pk, f"education:{waiting.pk}:{ITEM}")
        ]
        listed = client.get(
            "/api/v1/patients/me/notifications", headers=factory.headers(waiting)
        ).get_json()
        assert [n["kind"] for n in listed] == ["education"]
        assert listed[0]["title"].startswith("A reading from your care plan: ")

    def test_two_workers_nudging_together_send_one(self, client, factory, clinic, mongo):
        provider, _ = clinic
        enrol(client, factory, provider, education=[{"title": "Feet", "item_id": ITEM}])
        later = utcnow() + timedelta(days=8)
        threads = [threading.Thread(target=nudge_education, args=(later,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert mongo.notifications.count_documents({"kind": "education"}) == 1
