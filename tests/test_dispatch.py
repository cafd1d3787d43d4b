"""Dispatch: claims, leases, quiet hours, skips, expiry, exactly-once delivery to the inbox."""

from datetime import UTC, date, datetime, timedelta

from api.models.agreement import Checkup
from api.models.user import QuietHours
from api.services.flows import entries as entry_flow
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from api.services.tracking import logs
from tests.test_reminders import walk

LA = "America/Los_Angeles"


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def tick(now, worker="w1"):
    return dispatch.tick(now, worker=worker)


def inbox(mongo, patient):
    return list(mongo.notifications.find({"patient": patient.pk}).sort("key", 1))


def occurrence(mongo, key):
    return mongo.reminder_occurrences.find_one({"key": key})


def setup_walker(factory, times=("08:00",), **profile):
    patient = factory.patient(timezone=profile.pop("timezone", LA), **profile)
    agreement = factory.agreement(patient, factory.provider(), goals=[walk(list(times))])
    return patient, agreement


class TestDelivery:
    def test_due_reminder_reaches_the_inbox_at_its_utc_instant(self, factory, mongo, client):
        patient, _ = setup_walker(factory)
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        assert tick(utc(2025, 1, 15, 15, 59)) == {}
        assert inbox(mongo, patient) == []
        counts = tick(utc(2025, 1, 15, 16, 0))
        assert counts == {"delivered": 1, "slices": 1}
        [note] = inbox(mongo, patient)
        assert note["key"] == "goal:g_walk:2025-01-15T08:00"
        assert note["kind"] == "goal_reminder"
        assert note["title"] == "Walk 30 minutes"
        assert note["created_at"] == utc(2025, 1, 15, 16, 0)
        response = client.get("/api/v1/patients/me/notifications", headers=factory.headers(patient))
        assert response.status_code == 200
        [shown] = response.get_json()
        assert shown["kind"] == "goal_reminder"
        assert shown["read_at"] is None
        # The slice is closed: the next tick at the same instant finds nothing to do.
        assert tick(utc(2025, 1, 15, 16, 0)) == {}
        assert mongo.reminder_slices.count_documents({"open": True}) == 1  # tomorrow

    def test_summer_time_delivers_an_hour_earlier_in_utc(self, factory, mongo):
        patient, _ = setup_walker(factory)
        reminders.plan_all(utc(2025, 7, 15, 0, 0))
        assert tick(utc(2025, 7, 15, 14, 59)) == {}
        assert tick(utc(2025, 7, 15, 15, 0))["delivered"] == 1
        assert [n["key"] for n in inbox(mongo, patient)] == ["goal:g_walk:2025-07-15T08:00"]

    def test_quiet_hours_defer_to_their_end(self, factory, mongo):
        patient, _ = setup_walker(factory, times=("22:30",), timezone="UTC")
        patient.update(set__quiet_hours=QuietHours(start="22:00", end="07:00"))
        reminders.plan_all(utc(2025, 1, 15, 12, 0))
        counts = tick(utc(2025, 1, 15, 22, 30))
        assert counts == {"deferred": 1, "slices": 1}
        assert inbox(mongo, patient) == []
        stored = occurrence(mongo, "goal:g_walk:2025-01-15T22:30")
        assert stored["due_at"] == utc(2025, 1, 16, 7, 0)
        assert stored["deferred_from"] == utc(2025, 1, 15, 22, 30)
        assert stored["status"] == "pending"
        assert tick(utc(2025, 1, 16, 6, 59)) == {}
        assert tick(utc(2025, 1, 16, 7, 0)) == {"delivered": 1, "slices": 1}
        assert [n["key"] for n in inbox(mongo, patient)] == ["goal:g_walk:2025-01-15T22:30"]

    def test_a_goal_already_met_today_is_skipped_with_the_reason(self, factory, mongo):
        patient, agreement = setup_walker(factory, times=("18:00",), timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        agreement.update(set__active_since=utc(2024, 1, 1), set__active_from=utc(2024, 1, 1))
        entry_flow.log_entry(
            logs.Author(patient.pk, patient.pk, "self"),
            {
                "agreement_id": str(agreement.pk),
                "goal_id": "g_walk",
                "occurred_at": utc(2025, 1, 15, 9, 0),
                "value": 45,
            },
            now=utc(2025, 1, 15, 9, 1),
        )
        assert tick(utc(2025, 1, 15, 18, 0)) == {"skipped": 1, "slices": 1}
        assert inbox(mongo, patient) == []
        stored = occurrence(mongo, "goal:g_walk:2025-01-15T18:00")
        assert (stored["status"], stored["reason"]) == ("skipped", "goal already met today")
        # The next day nothing is logged yet: that reminder goes out.
        assert tick(utc(2025, 1, 16, 18, 0)) == {"delivered": 1, "slices": 1}

    def test_an_agreement_no_longer_active_is_skipped(self, factory, mongo):
        patient, agreement = setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        # Ended while its reminder was planned (as if the re-planning hook had not run).
        agreement.update(set__status="completed", set__ended_at=utc(2025, 1, 15, 7, 0))
        assert tick(utc(2025, 1, 15, 8, 0)) == {"skipped": 1, "slices": 1}
        stored = occurrence(mongo, "goal:g_walk:2025-01-15T08:00")
        assert (stored["status"], stored["reason"]) == ("skipped", "agreement no longer active")
        assert inbox(mongo, patient) == []


class TestSeveralWorkers:
    def test_two_workers_ticking_the_same_instant_deliver_each_once(self, factory, mongo):
        patients = [setup_walker(factory, timezone="UTC")[0] for _ in range(5)]
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        first, second = tick(now, "w1"), tick(now, "w2")
        assert first.get("delivered", 0) + second.get("delivered", 0) == 5
        for patient in patients:
            assert [n["key"] for n in inbox(mongo, patient)] == ["goal:g_walk:2025-01-15T08:00"]

    def test_the_same_slice_delivered_twice_still_shows_once(self, factory, mongo):
        patient, _ = setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        counts: dict = {}
        dispatch.deliver_slice(now, now, counts)
        dispatch.deliver_slice(now, now, counts)
        assert counts == {"delivered": 1}
        assert len(inbox(mongo, patient)) == 1

    def test_a_crashed_workers_claim_expires_and_is_delivered_exactly_once(self, factory, mongo):
        patient, _ = setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        claimed = dispatch.claim_slice(now, "crashing-worker")
        assert claimed["_id"] == now
        # It wrote the inbox, then died before closing the slice.
        dispatch.deliver_slice(claimed["_id"], now, {})
        assert tick(now + timedelta(minutes=1), "w2") == {}
        counts = tick(now + dispatch.LEASE + timedelta(seconds=1), "w2")
        assert counts == {"slices": 1}
        assert len(inbox(mongo, patient)) == 1
        assert mongo.reminder_slices.find_one({"_id": now})["closed_at"] is not None

    def test_a_claim_that_died_before_writing_is_retried(self, factory, mongo):
        patient, _ = setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        dispatch.claim_slice(now, "crashing-worker")
        assert tick(now + dispatch.LEASE + timedelta(minutes=1), "w2")["delivered"] == 1
        assert len(inbox(mongo, patient)) == 1

    def test_work_added_while_a_slice_is_delivered_keeps_it_open(self, factory, mongo):
        setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        claimed = dispatch.claim_slice(now, "w1")
        reminders.open_slices([now])
        dispatch.release_slice(claimed, now, "w1")
        stored = mongo.reminder_slices.find_one({"_id": now})
        assert stored["open"] is True
        assert stored["lease_until"] == now  # claimable again at once
        assert "lease_owner" not in stored


class TestOutage:
    def test_after_three_hours_down_goal_reminders_expire_and_checkups_still_go(
        self, factory, mongo
    ):
        patient = factory.patient(timezone="UTC", reminder_time="09:00")
        checkup = Checkup(id="c_eye", name="Eye exam", interval="P1Y", remind_days_before=[7])
        factory.agreement(
            patient,
            factory.provider(),
            goals=[walk(["08:00", "10:30"])],
            checkups=[checkup],
            start_on=date(2024, 1, 22),
        )
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        counts = tick(utc(2025, 1, 15, 11, 0))
        assert counts == {"expired": 1, "delivered": 2, "slices": 3}
        assert [n["key"] for n in inbox(mongo, patient)] == [
            "checkup:c_eye:2025-01-22:before:7",
            "goal:g_walk:2025-01-15T10:30",
        ]
        stale = occurrence(mongo, "goal:g_walk:2025-01-15T08:00")
        assert (stale["status"], stale["reason"]) == ("expired", "more than 2 hours late")


class TestIndexes:
    def test_dispatch_queries_use_indexes(self, factory, mongo):
        setup_walker(factory, timezone="UTC")
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        now = utc(2025, 1, 15, 8, 0)
        tick(now)
        plans = [
            mongo.reminder_slices.find({"open": True, "lease_until": {"$lte": now}})
            .sort([("open", 1), ("lease_until", 1)])
            .explain(),
            mongo.reminder_occurrences.find(
                {"due_at": {"$gte": now, "$lt": now + timedelta(minutes=1)}, "status": "pending"}
            ).explain(),
            mongo.notifications.find({"patient": 1, "key": "x"}).explain(),
        ]
        for number, plan in enumerate(plans):
            assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"]), number
