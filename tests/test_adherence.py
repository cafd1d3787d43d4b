"""Adherence in the patient's own days: DST, far-off zones, weeks, streaks, rebuilds."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.models.agreement import Goal, Target
from api.models.user import User
from api.services.flows import days
from api.services.tracking import adherence
from api.services.tracking import summary as patient_summary
from tests.log_helpers import (
    GLUCOSE,
    WALK,
    WEEKLY_WALK,
    entry,
    local,
    periods,
    plan,
    post,
    recent_transition,
)


def report(client, p, query=""):
    response = client.get(f"/api/v1/patients/me/adherence{query}", headers=p.headers)
    assert response.status_code == 200, response.get_json()
    return {g["goal_id"]: g for g in response.get_json()["goals"]}


def today_in(tz):
    return datetime.now(ZoneInfo(tz)).date()


def test_days_met_percent_and_streaks(client, factory):
    p = plan(factory, goals=[WALK])
    today = today_in("UTC")
    noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    # Met 5, 4, 3 days ago and 1 day ago; missed 2 days ago; today not logged yet.
    for days_ago in (5, 4, 3, 1):
        post(client, p, entry(p, value=40, at=noon - timedelta(days=days_ago)))
    post(client, p, entry(p, value=10, at=noon - timedelta(days=2)))
    first = (today - timedelta(days=5)).isoformat()
    walk = report(client, p, f"?from={first}")["g_walk"]
    assert (walk["days"], walk["days_met"], walk["percent"]) == (5, 4, 80.0)
    assert walk["current_streak"] == 1 and walk["longest_streak"] == 3
    assert [s["met"] for s in walk["series"]] == [True, True, True, False, True, False]
    assert walk["series"][3]["value"] == 10 and walk["series"][-1]["in_progress"] is True
    assert walk["last_logged_at"].startswith((noon - timedelta(days=1)).date().isoformat())
    # Met today too: today counts, and the streak grows.
    post(client, p, entry(p, value=30, at=datetime.now(UTC) - timedelta(minutes=1)))
    walk = report(client, p, f"?from={first}")["g_walk"]
    assert (walk["days"], walk["days_met"], walk["current_streak"]) == (6, 5, 2)


def test_the_default_range_is_30_days_and_days_before_the_start_do_not_count(client, factory):
    p = plan(factory, goals=[WALK], active_since=datetime.now(UTC) - timedelta(days=3))
    walk = report(client, p)["g_walk"]
    assert len(walk["series"]) == 4
    assert walk["days"] == 3 and walk["percent"] == 0.0
    response = client.get("/api/v1/patients/me/adherence?to=2020-01-01", headers=p.headers)
    assert report(client, p, "?from=2020-01-01&to=2020-01-02")["g_walk"]["series"] == []
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query, field",
    [
        ("?from=2026-02-02&to=2026-02-01", "from"),
        ("?from=2019-01-01&to=2026-01-01", "from"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
    ],
)
def test_bad_ranges_are_refused(client, factory, query, field):
    p = plan(factory)
    response = client.get(f"/api/v1/patients/me/adherence{query}", headers=p.headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_another_patients_adherence_is_not_found(client, factory):
    p, other = plan(factory), plan(factory)
    url = f"/api/v1/patients/{other.patient.pk}/adherence"
    assert client.get(url, headers=p.headers).status_code == 404
    assert client.get(url, headers=factory.headers(other.provider)).status_code == 200


@pytest.mark.parametrize(
    "tz, utc_day_shift", [("Pacific/Kiritimati", 0), ("America/Los_Angeles", 1)]
)
def test_23_30_local_counts_for_that_local_day(client, factory, mongo, tz, utc_day_shift):
    p = plan(factory, goals=[WALK], tz=tz)
    day = today_in(tz) - timedelta(days=2)
    at = local(day, 23, 30, tz)
    assert (at.astimezone(UTC).date() - day).days == utc_day_shift
    created = post(client, p, entry(p, value=30, at=at)).get_json()
    assert created["local_date"] == day.isoformat()
    assert periods(mongo, p.patient.pk)[("g_walk", day.isoformat())]["met"]
    series = {s["date"]: s["met"] for s in report(client, p)["g_walk"]["series"]}
    assert series[day.isoformat()] is True
    assert series[(day + timedelta(days=1)).isoformat()] is False


@pytest.mark.parametrize("hours", [23, 25])
def test_dst_days_run_from_local_midnight_to_local_midnight(client, factory, hours):
    tz = "America/Los_Angeles"
    p = plan(factory, goals=[WALK], tz=tz)
    day = recent_transition(tz, hours)
    times = [
        local(day, 0, 10, tz),
        local(day, 1, 30, tz),
        local(day, 1, 30, tz, fold=1),
        local(day, 23, 50, tz),
    ]
    elapsed = times[-1].astimezone(UTC) - times[0].astimezone(UTC)
    assert elapsed.total_seconds() / 3600 == pytest.approx(hours - 1 + 40 / 60)
    for at in times:
        created = post(client, p, entry(p, value=10, at=at)).get_json()
        assert created["local_date"] == day.isoformat()
    post(client, p, entry(p, value=50, at=local(day + timedelta(days=1), 0, 5, tz)))
    query = f"?from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
    series = report(client, p, query)["g_walk"]["series"]
    assert [(s["date"], s["count"], s["met"]) for s in series] == [
        ((day - timedelta(days=1)).isoformat(), 0, False),
        (day.isoformat(), 4, True),
        ((day + timedelta(days=1)).isoformat(), 1, True),
    ]


def test_weekly_goals_count_iso_weeks_across_a_year_boundary(client, factory, mongo):
    # ISO week 2026-W01 runs from Monday 29 December 2025 to Sunday 4 January 2026.
    p = plan(factory, goals=[WEEKLY_WALK], active_since=datetime(2024, 1, 1, tzinfo=UTC))
    for day, value in (
        ((2025, 12, 28), 20),
        ((2025, 12, 30), 100),
        ((2026, 1, 3), 60),
        ((2026, 1, 5), 60),
    ):
        at = datetime(*day, 12, tzinfo=UTC)
        assert post(client, p, entry(p, goal="g_week", value=value, at=at)).status_code == 201
    stored = periods(mongo, p.patient.pk)[("g_week", "2026-W01")]
    assert stored["total"] == 160 and stored["met"] is True
    # Filed under the quarter of its Monday, with the other weeks starting in December.
    fourth = mongo.adherence_rollups.find_one({"_id": f"{p.patient.pk}:g_week:2025-Q4"})
    assert sorted(fourth["p"]) == ["2025-W52", "2026-W01"]
    first = mongo.adherence_rollups.find_one({"_id": f"{p.patient.pk}:g_week:2026-Q1"})
    assert sorted(first["p"]) == ["2026-W02"]
    week = report(client, p, "?from=2025-12-22&to=2026-01-11")["g_week"]
    assert [(s["key"], s["date"], s["met"], s["value"]) for s in week["series"]] == [
        ("2025-W52", "2025-12-22", False, 20),
        ("2026-W01", "2025-12-29", True, 160),
        ("2026-W02", "2026-01-05", False, 60),
    ]
    assert (week["days"], week["days_met"], week["longest_streak"]) == (3, 1, 1)


SPOILED = {"met": False, "count": 99}


def test_rebuild_gives_the_same_rollups_and_report(app, client, factory, mongo):
    p = plan(factory, goals=[WALK, GLUCOSE])
    now = datetime.now(UTC)
    ids = []
    for i in range(12):
        goal, value = ("g_walk", 12 + i) if i % 2 else ("g_glucose", 60 + 20 * i)
        at = now - timedelta(hours=9 * i + 1)
        ids.append(post(client, p, entry(p, goal=goal, value=value, at=at)).get_json()["id"])
    client.patch(f"/api/v1/patients/me/logs/{ids[1]}", json={"value": 60}, headers=p.headers)
    client.patch(
        f"/api/v1/patients/me/logs/{ids[3]}",
        json={"occurred_at": (now - timedelta(days=6)).isoformat()},
        headers=p.headers,
    )
    client.delete(f"/api/v1/patients/me/logs/{ids[4]}", headers=p.headers)

    def snapshot():
        fields = ("count", "total", "out", "met")
        rollups = {
            ref: {name: period.get(name) or 0 for name in fields}
            for ref, period in periods(mongo, p.patient.pk).items()
            if period.get("count")
        }
        summary = mongo.adherence_summaries.find_one(
            {"_id": p.patient.pk}, {"updated_at": 0, "tz": 0, "glucose_unit": 0}
        )
        return (
            rollups,
            summary,
            report(client, p, "?from=" + (now - timedelta(days=10)).date().isoformat()),
        )

    before = snapshot()
    for doc in mongo.adherence_rollups.find():
        spoiled = {f"p.{key}.{name}": v for key in doc["p"] for name, v in SPOILED.items()}
        mongo.adherence_rollups.update_one({"_id": doc["_id"]}, {"$set": spoiled})
    result = app.test_cli_runner().invoke(args=["rebuild-adherence"])
    assert result.exit_code == 0, result.output
    assert "from 11 entries" in result.output  # one was deleted
    assert snapshot() == before


def test_goal_met_close_day_and_flags(client, factory, mongo):
    p = plan(factory, goals=[WALK, WEEKLY_WALK], tz="Europe/Berlin")
    patient = User.objects.get(pk=p.patient.pk)
    walk = Goal(id="g_walk", period="day", target=Target(op="at_least", value=30))
    today = today_in("Europe/Berlin")
    yesterday = today - timedelta(days=1)
    assert adherence.goal_met(p.patient.pk, walk, today) is False
    post(client, p, entry(p, value=45, at=datetime.now(UTC) - timedelta(minutes=5)))
    assert adherence.goal_met(p.patient.pk, walk, today) is True
    weekly = Goal(id="g_week", period="week", target=Target(op="at_least", value=150))
    assert adherence.goal_met(p.patient.pk, weekly, today) is False

    now = datetime.now(UTC)
    days.close_day(patient, yesterday, now=now)
    days.close_day(patient, yesterday, now=now)
    missed = periods(mongo, p.patient.pk)[("g_walk", yesterday.isoformat())]
    assert (missed["closed"], missed.get("met", False), missed.get("count", 0)) == (True, False, 0)
    assert [ref for ref in periods(mongo, p.patient.pk) if ref[1] == yesterday.isoformat()] == [
        ("g_walk", yesterday.isoformat())
    ]
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["low_adherence"] is True
    assert summary["flags"]["no_recent_logs"] is False
    assert summary["days_7d"] >= 1 and summary["met_7d"] == 1

    # The adherence refresh leaves the flags other domains own alone.
    patient_summary.set_flag(p.patient.pk, "overdue_checkup", True)
    patient_summary.refresh(p.patient.pk, tz=patient.timezone, now=now + timedelta(days=4))
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["overdue_checkup"] is True
    assert summary["flags"]["no_recent_logs"] is True
    with pytest.raises(ValueError, match="Unknown flag"):
        patient_summary.set_flag(p.patient.pk, "grumpy", True)


def test_a_profile_zone_change_reaches_new_entries(client, factory):
    p = plan(factory, goals=[WALK], tz="Pacific/Kiritimati")
    post(client, p, entry(p))
    response = client.patch(
        "/api/v1/me", json={"timezone": "America/Los_Angeles"}, headers=p.headers
    )
    assert response.status_code == 200
    day = today_in("America/Los_Angeles") - timedelta(days=3)
    created = post(client, p, entry(p, at=local(day, 23, 30, "America/Los_Angeles"))).get_json()
    assert created["local_date"] == day.isoformat()
    assert (
        report(client, p)["g_walk"]["series"][-1]["date"]
        == today_in("America/Los_Angeles").isoformat()
    )
