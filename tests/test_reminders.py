"""Planning reminders on the patient's clock: time zones, DST, idempotence, re-planning."""

from datetime import UTC, date, datetime, timedelta

from api.clock import utcnow
from api.models.agreement import Checkup
from api.models.reminder import Occurrence
from api.services.reminders import planning as reminders

LA = "America/Los_Angeles"


def walk(times, **extra):
    return {
        "id": extra.pop("id", "g_walk"),
        "kind": "exercise",
        "title": "Walk 30 minutes",
        "measure": "exercise_minutes",
        "unit": "min",
        "target": {"op": "at_least", "value": 30},
        "period": "day",
        "reminder_times": times,
        **extra,
    }


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def planned(agreement, patient, now, horizon=timedelta(hours=48)):
    return {o.key: o.due_at for o in reminders.plan(agreement, patient, now, horizon)}


class TestWallClock:
    def test_eight_in_los_angeles_is_sixteen_utc_in_winter_and_fifteen_in_summer(self, factory):
        patient = factory.patient(timezone=LA)
        agreement = factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        winter = planned(agreement, patient, utc(2025, 1, 15, 0, 0), timedelta(days=1))
        summer = planned(agreement, patient, utc(2025, 7, 15, 0, 0), timedelta(days=1))
        assert winter == {"goal:g_walk:2025-01-15T08:00": utc(2025, 1, 15, 16, 0)}
        assert summer == {"goal:g_walk:2025-07-15T08:00": utc(2025, 7, 15, 15, 0)}

    def test_a_time_skipped_by_spring_forward_fires_at_the_next_valid_minute(self, factory):
        patient = factory.patient(timezone=LA)
        agreement = factory.agreement(patient, factory.provider(), goals=[walk(["02:30"])])
        keys = planned(agreement, patient, utc(2025, 3, 9, 8, 0), timedelta(hours=24))
        # 2025-03-09 02:00 PST jumps to 03:00 PDT; 03:00 PDT is 10:00 UTC.
        assert keys == {"goal:g_walk:2025-03-09T02:30": utc(2025, 3, 9, 10, 0)}

    def test_a_time_repeated_by_fall_back_fires_once_at_its_first_occurrence(self, factory):
        patient = factory.patient(timezone=LA)
        agreement = factory.agreement(patient, factory.provider(), goals=[walk(["01:30"])])
        keys = planned(agreement, patient, utc(2025, 11, 2, 6, 0), timedelta(hours=24))
        # 01:30 happens at 08:30 UTC (PDT) and again at 09:30 UTC (PST): only the first.
        assert keys == {"goal:g_walk:2025-11-02T01:30": utc(2025, 11, 2, 8, 30)}

    def test_local_instant_handles_both_transitions_directly(self):
        zone = reminders.local_days.zone(LA)
        assert reminders.local_instant(date(2025, 3, 9), "02:59", zone) == utc(2025, 3, 9, 10)
        assert reminders.local_instant(date(2025, 3, 9), "03:00", zone) == utc(2025, 3, 9, 10)
        assert reminders.local_instant(date(2025, 11, 2), "01:00", zone) == utc(2025, 11, 2, 8)

    def test_without_reminder_times_the_patients_reminder_time_is_used(self, factory):
        patient = factory.patient(timezone="Europe/Paris", reminder_time="07:15")
        agreement = factory.agreement(patient, factory.provider(), goals=[walk([])])
        keys = planned(agreement, patient, utc(2025, 1, 10, 0, 0), timedelta(days=1))
        assert keys == {"goal:g_walk:2025-01-10T07:15": utc(2025, 1, 10, 6, 15)}


class TestCheckups:
    def test_reminders_before_the_due_date_and_an_overdue_notice_the_day_after(self, factory):
        patient = factory.patient(timezone="UTC", reminder_time="09:00")
        checkup = Checkup(id="c_a1c", name="HbA1c", interval="P3M", remind_days_before=[7, 1])
        agreement = factory.agreement(
            patient, factory.provider(), goals=[], checkups=[checkup], start_on=date(2025, 1, 1)
        )
        keys = planned(agreement, patient, utc(2025, 3, 20), timedelta(days=20))
        assert keys == {
            "checkup:c_a1c:2025-04-01:before:7": utc(2025, 3, 25, 9),
            "checkup:c_a1c:2025-04-01:before:1": utc(2025, 3, 31, 9),
            "checkup:c_a1c:2025-04-01:overdue": utc(2025, 4, 2, 9),
        }

    def test_an_inactive_agreement_plans_nothing(self, factory):
        patient = factory.patient()
        agreement = factory.agreement(patient, factory.provider(), status="draft")
        assert reminders.plan(agreement, patient, utc(2025, 1, 1)) == []


class TestStoring:
    def test_planning_twice_stores_each_occurrence_once(self, factory, mongo):
        patient = factory.patient(timezone=LA)
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00", "20:00"])])
        now = utc(2025, 1, 15, 0, 0)
        first = reminders.plan_all(now)
        again = reminders.plan_all(now + timedelta(minutes=30))
        assert first == {"agreements": 1, "planned": 4}
        assert again == {"agreements": 1, "planned": 0}
        stored = list(mongo.reminder_occurrences.find({}, {"key": 1, "due_at": 1, "status": 1}))
        # Midnight UTC is 16:00 the day before in Los Angeles.
        assert sorted(o["key"] for o in stored) == [
            "goal:g_walk:2025-01-14T20:00",
            "goal:g_walk:2025-01-15T08:00",
            "goal:g_walk:2025-01-15T20:00",
            "goal:g_walk:2025-01-16T08:00",
        ]
        assert {o["status"] for o in stored} == {"pending"}
        slices = sorted(s["_id"] for s in mongo.reminder_slices.find({"open": True}))
        assert slices == [
            utc(2025, 1, 15, 4),
            utc(2025, 1, 15, 16),
            utc(2025, 1, 16, 4),
            utc(2025, 1, 16, 16),
        ]

    def test_two_patients_with_the_same_goal_id_each_get_their_own(self, factory, mongo):
        provider = factory.provider()
        for _ in range(2):
            factory.agreement(factory.patient(), provider, goals=[walk(["08:00"])])
        assert reminders.plan_all(utc(2025, 1, 15))["planned"] == 4


class TestReplanning:
    def test_a_time_zone_change_through_the_api_replans_at_once(self, client, factory, mongo):
        patient = factory.patient(timezone=LA)
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        reminders.plan_all(utcnow())
        before = {o["key"]: o["due_at"] for o in mongo.reminder_occurrences.find()}
        response = client.patch(
            "/api/v1/me", json={"timezone": "Europe/Paris"}, headers=factory.headers(patient)
        )
        assert response.status_code == 200, response.get_json()
        after = {o["key"]: o["due_at"] for o in mongo.reminder_occurrences.find()}
        assert after, "re-planning stored the reminders again"
        for key, due_at in after.items():
            local = due_at.astimezone(reminders.local_days.zone("Europe/Paris"))
            assert local.strftime("%H:%M") == "08:00", key
            assert key.endswith(f"{local.date().isoformat()}T08:00")
        assert set(after.values()) != set(before.values())

    def test_quiet_hours_and_reminder_time_changes_replan_too(self, client, factory, mongo):
        patient = factory.patient(timezone="UTC", reminder_time="08:00")
        factory.agreement(patient, factory.provider(), goals=[walk([])])
        reminders.plan_all(utcnow())
        response = client.patch(
            "/api/v1/me", json={"reminder_time": "09:45"}, headers=factory.headers(patient)
        )
        assert response.status_code == 200
        times = {o["due_at"].strftime("%H:%M") for o in mongo.reminder_occurrences.find()}
        assert times == {"09:45"}

    def test_replanning_an_ended_agreement_drops_its_future_reminders(self, factory, mongo):
        patient = factory.patient()
        agreement = factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        now = utc(2025, 1, 15, 0, 0)
        reminders.plan_all(now)
        assert mongo.reminder_occurrences.count_documents({}) == 2
        agreement.update(set__status="revoked")
        agreement.reload()
        assert reminders.replan_agreement(agreement, now) == 0
        assert mongo.reminder_occurrences.count_documents({}) == 0

    def test_replanning_keeps_what_was_already_due(self, factory, mongo):
        patient = factory.patient(timezone="UTC")
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        reminders.plan_all(utc(2025, 1, 15, 0, 0))
        reminders.replan_patient(patient, utc(2025, 1, 15, 9, 0))
        keys = sorted(o["key"] for o in mongo.reminder_occurrences.find())
        assert keys == [
            "goal:g_walk:2025-01-15T08:00",
            "goal:g_walk:2025-01-16T08:00",
            "goal:g_walk:2025-01-17T08:00",
        ]

    def test_occurrence_queries_use_indexes(self, factory, mongo):
        patient = factory.patient()
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        reminders.plan_all(utc(2025, 1, 15))
        plan = Occurrence.objects(patient=patient.pk, due_at__gt=utc(2025, 1, 15)).explain()
        assert "COLLSCAN" not in str(plan)
