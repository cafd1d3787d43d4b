"""The alert jobs, called as functions with an explicit `now`: no_data rules, and a push held
back by quiet hours that the outbox sends when they end."""

from datetime import UTC, datetime, timedelta

from jobs import alerts as alert_jobs
from jobs import outbox as outbox_job
from jobs import tasks  # noqa: F401 - registers every job
from jobs.registry import JOBS
from tests.log_helpers import (
    GLUCOSE,
    entry,
    local,
    phone_in_quiet_hours,
    plan,
    post,
    recent_transition,
)

TZ = "America/New_York"


def no_data_rule(client, factory, p, within="P3D"):
    response = client.post(
        f"/api/v1/patients/{p.patient.pk}/alert-rules",
        json={
            "measure": "blood_glucose",
            "kind": "no_data",
            "within": within,
            "severity": "warning",
            "notify": ["primary", "patient"],
        },
        headers=factory.headers(p.provider),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_jobs_are_registered():
    names = {job.name for job in JOBS}
    assert {"alert_no_data", "send_outbox"} <= names


def test_no_data_across_the_fall_back(client, factory, mongo, worker):
    """P3D after 09:00 on the eve of the November change is 09:00 three local days later:
    73 hours, not 72."""
    p = plan(factory, goals=(GLUCOSE,), tz=TZ)
    fall_back = recent_transition(TZ, 25)
    last = local(fall_back - timedelta(days=1), 9, 0, TZ).astimezone(UTC)
    assert post(client, p, entry(p, goal="g_glucose", value=120, at=last)).status_code == 201
    no_data_rule(client, factory, p)
    deadline = local(fall_back + timedelta(days=2), 9, 0, TZ).astimezone(UTC)
    assert deadline - last == timedelta(hours=73)

    counts = alert_jobs.no_data(last + timedelta(hours=72, minutes=30), worker)
    assert counts == {"rules_checked": 1, "alerts_opened": 0, "postponed": 1}
    assert mongo.alerts.count_documents({}) == 0
    # Not looked at again before its deadline: a run in between reads no rule.
    assert alert_jobs.no_data(deadline - timedelta(minutes=1), worker)["rules_checked"] == 0
    assert alert_jobs.no_data(deadline, worker)["alerts_opened"] == 0
    counts = alert_jobs.no_data(deadline + timedelta(seconds=1), worker)
    assert counts["alerts_opened"] == 1
    [alert] = mongo.alerts.find()
    assert alert["kind"] == "no_data" and alert["status"] == "open" and alert["readings"] == []
    assert mongo.notifications.count_documents({"kind": "alert"}) == 2
    # Another run opens nothing more and reads nothing (the rule waits for data).
    assert alert_jobs.no_data(deadline + timedelta(hours=5), worker)["rules_checked"] == 0
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert summary["flags"]["open_alert"] is True


def test_no_data_resolves_when_data_arrives_and_fires_again(client, factory, mongo, worker):
    p = plan(factory, goals=(GLUCOSE,), tz=TZ)
    now = datetime.now(UTC)
    at = now - timedelta(days=5)
    assert post(client, p, entry(p, goal="g_glucose", value=120, at=at)).status_code == 201
    no_data_rule(client, factory, p)
    assert alert_jobs.no_data(now, worker)["alerts_opened"] == 1
    assert post(client, p, entry(p, goal="g_glucose", value=130, at=now)).status_code == 201
    alert = mongo.alerts.find_one()
    assert alert["status"] == "resolved" and alert["resolution"] == "data_arrived"
    assert alert_jobs.no_data(now + timedelta(days=1), worker)["alerts_opened"] == 0
    assert alert_jobs.no_data(now + timedelta(days=3, hours=2), worker)["alerts_opened"] == 1
    assert mongo.alerts.count_documents({}) == 2


def test_no_data_with_no_reading_counts_from_the_rule(client, factory, mongo, worker):
    p = plan(factory, goals=(GLUCOSE,))
    no_data_rule(client, factory, p, within="P1D")
    created = mongo.alert_rules.find_one()["created_at"]
    assert alert_jobs.no_data(created + timedelta(hours=23), worker)["alerts_opened"] == 0
    assert alert_jobs.no_data(created + timedelta(hours=25), worker)["alerts_opened"] == 1


def test_a_push_held_back_by_quiet_hours_goes_out_after(client, factory, mongo, worker):
    p = plan(factory, goals=(GLUCOSE,))
    phone_in_quiet_hours(client, p, platform="android", token="android-token-5678")
    now = datetime.now(UTC)
    response = client.post(
        f"/api/v1/patients/{p.patient.pk}/alert-rules",
        json={
            "measure": "blood_glucose",
            "kind": "threshold",
            "op": "below",
            "value": 70,
            "notify": ["patient"],
        },
        headers=factory.headers(p.provider),
    )
    assert response.status_code == 201
    at = now - timedelta(minutes=5)
    assert post(client, p, entry(p, goal="g_glucose", value=60, at=at)).status_code == 201
    note = mongo.notifications.find_one({"kind": "alert"})
    [queued] = mongo.outbox.find({"notification": note["_id"]})
    assert queued["state"] == "pending" and queued["due_at"] > now + timedelta(minutes=30)
    quiet_ends = queued["due_at"]
    assert outbox_job.send(quiet_ends - timedelta(minutes=1), worker) == {}
    assert outbox_job.send(quiet_ends, worker) == {"push_sent": 1}
    assert mongo.outbox.find_one({"_id": queued["_id"]})["state"] == "sent"
    assert outbox_job.send(now + timedelta(hours=3), worker) == {}
