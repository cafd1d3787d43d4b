"""Alert rules on CGM readings: a breach that must last (every reading in the window, at
least two), its edges, back-filled bursts, resolution, and the stale-data alarm."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from api.services.flows import alerts as alert_flow
from api.services.tracking import cgm_traces
from jobs import tasks  # noqa: F401 - registers every job
from jobs.registry import JOBS
from jobs.worker import run_job, trigger_args
from tests.test_nightscout_uploads import make_uploader, ms, ns

URGENT_LOW = {
    "measure": "sensor_glucose",
    "kind": "threshold",
    "op": "below",
    "value": 54,
    "unit": "mg/dL",
    "within": "PT15M",
    "severity": "urgent",
    "notify": ["primary", "patient"],
    "advice": "Take 15 g of fast-acting carbohydrate now.",
}


@pytest.fixture
def setting(client, factory):
    patient = factory.patient(timezone="America/Denver")
    provider = factory.provider()
    factory.membership(patient, provider)
    headers = factory.headers(patient)
    return patient, factory.headers(provider), headers, make_uploader(client, headers)


def add_rule(client, patient, provider_headers, **fields):
    body = {k: v for k, v in {**URGENT_LOW, **fields}.items() if v is not None}
    response = client.post(
        f"/api/v1/patients/{patient.pk}/alert-rules", json=body, headers=provider_headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(client, uploader, start: datetime, values: list[float], step: int = 5):
    entries = [
        {"type": "sgv", "sgv": v, "date": ms(start + timedelta(minutes=step * i))}
        for i, v in enumerate(values)
    ]
    response = client.post("/api/v1/entries", json=entries, headers=ns(uploader))
    assert response.status_code == 200


def alerts_of(mongo, patient, status=None):
    query = {"patient": patient.pk, **({"status": status} if status else {})}
    return list(mongo.alerts.find(query))


def test_a_low_must_last_the_whole_window(client, setting, mongo):
    patient, provider, headers, uploader = setting
    add_rule(client, patient, provider)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    # 15 minutes of lows, but the reading at the window's start was 54 (not below 54).
    send(client, uploader, start, [54, 53, 50, 48])
    assert alerts_of(mongo, patient) == []
    # One more low: the window [start+5, start+20] is all below.
    send(client, uploader, start + timedelta(minutes=20), [47])
    [alert] = alerts_of(mongo, patient, "open")
    assert alert["severity"] == "urgent" and alert["measure"] == "sensor_glucose"
    assert [r["value"] for r in alert["readings"]] == [53, 50, 48, 47]
    shown = client.get("/api/v1/patients/me/alerts", headers=headers).get_json()
    assert shown[0]["readings"][-1]["value"] == 47 and shown[0]["status"] == "open"
    inbox = list(mongo.notifications.find({"patient": patient.pk, "kind": "alert"}))
    assert len(inbox) == 2  # the primary provider and the patient, once each
    # Lower still: the same alert stays open, nobody is told again.
    send(client, uploader, start + timedelta(minutes=25), [45, 44])
    assert len(alerts_of(mongo, patient)) == 1
    assert mongo.notifications.count_documents({"patient": patient.pk, "kind": "alert"}) == 2
    # Back in range: resolved.
    send(client, uploader, start + timedelta(minutes=35), [72])
    [resolved] = alerts_of(mongo, patient)
    assert resolved["status"] == "resolved" and resolved["resolution"] == "back_in_range"


def test_at_least_two_readings(client, setting, mongo):
    patient, provider, _, uploader = setting
    add_rule(client, patient, provider, within="PT5M")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    send(client, uploader, start, [120])
    send(client, uploader, start + timedelta(minutes=30), [50])  # alone in its window
    assert alerts_of(mongo, patient) == []
    send(client, uploader, start + timedelta(minutes=35), [51])  # two, five minutes apart
    assert len(alerts_of(mongo, patient, "open")) == 1


def test_without_a_duration_the_newest_reading_decides(client, setting, mongo):
    patient, provider, _, uploader = setting
    add_rule(client, patient, provider, within=None, op="above", value=250, severity="warning")
    start = datetime.now(UTC) - timedelta(hours=1)
    send(client, uploader, start, [240, 251])
    assert len(alerts_of(mongo, patient, "open")) == 1


def test_a_backfilled_day_opens_at_most_one_alert_per_rule(client, setting, mongo):
    patient, provider, _, uploader = setting
    add_rule(client, patient, provider)
    add_rule(client, patient, provider, op="above", value=180, within="PT30M", severity="info")
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    trace = cgm_traces.trace(day, 1, seed=9, profile=cgm_traces.Profile(low_night_chance=1.0))
    trace[-4:] = [{**e, "sgv": 45} for e in trace[-4:]]  # it ends in a lasting low
    assert len(trace) > 250
    response = client.post("/api/v1/entries", json=trace, headers=ns(uploader))
    assert response.status_code == 200
    opened = alerts_of(mongo, patient)
    assert [a["severity"] for a in opened] == ["urgent"]
    again = client.post("/api/v1/entries", json=trace, headers=ns(uploader))
    assert again.status_code == 200 and len(alerts_of(mongo, patient)) == 1


def test_stale_data_alarm(app, client, setting, mongo):
    patient, provider, _, uploader = setting
    stale = {"kind": "no_data", "op": None, "value": None, "within": "PT30M"}
    add_rule(client, patient, provider, severity="warning", **stale)
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=45)
    send(client, uploader, last, [110])
    assert alert_flow.check_no_data(now=last + timedelta(minutes=29))["alerts_opened"] == 0
    assert alert_flow.check_no_data(now=last + timedelta(minutes=31))["alerts_opened"] == 1
    [alert] = alerts_of(mongo, patient, "open")
    assert alert["kind"] == "no_data"
    send(client, uploader, last + timedelta(minutes=40), [112])
    [resolved] = alerts_of(mongo, patient)
    assert resolved["status"] == "resolved" and resolved["resolution"] == "data_arrived"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"within": "P3D"}, "within"),
        ({"within": "PT2M"}, "within"),
        ({"within": "PT25H"}, "within"),
        ({"within": "15 minutes"}, "within"),
        ({"count": 2}, "count"),
        ({"kind": "no_data", "op": None, "value": None, "within": None}, "within"),
        ({"value": 700}, "value"),
    ],
)
def test_bad_rules_are_refused(client, setting, mongo, fields, field):
    patient, provider, _, _ = setting
    body = {k: v for k, v in {**URGENT_LOW, **fields}.items() if v is not None}
    response = client.post(
        f"/api/v1/patients/{patient.pk}/alert-rules", json=body, headers=provider
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert mongo.alert_rules.count_documents({}) == 0


STALE = {"kind": "no_data", "op": None, "value": None, "within": "PT30M", "severity": "warning"}


def no_data_job():
    return next(job for job in JOBS if job.name == "alert_no_data")


def test_the_deployed_worker_checks_no_data_rules_every_minute():
    assert trigger_args(no_data_job(), test_interval_s=0) == {"minutes": 1}


def test_a_silent_uploader_is_alarmed_within_a_minute_of_its_window(client, setting, mongo, worker):
    """An hour of readings every 5 minutes while the job runs every minute, then silence:
    the alarm opens at the first run after the 30 minutes, and while readings came the rule
    was looked at once per window, not at every run."""
    patient, provider, _, uploader = setting
    add_rule(client, patient, provider, **STALE)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    job, looked = no_data_job(), 0
    for minute in range(61):
        at = start + timedelta(minutes=minute)
        if minute % 5 == 0:
            send(client, uploader, at, [110])
        counts = run_job(job, worker, now=at + timedelta(seconds=20))
        assert counts["alerts_opened"] == 0, minute
        looked += counts["rules_checked"]
    assert looked <= 3  # when created, then once per 30 minutes of readings
    silent_since = start + timedelta(minutes=60)
    for minute in range(1, 40):
        tick = silent_since + timedelta(minutes=minute, seconds=20)
        if run_job(job, worker, now=tick)["alerts_opened"]:
            break
    late = (tick - (silent_since + timedelta(minutes=30))).total_seconds()
    assert 0 < late <= 60
    [alert] = alerts_of(mongo, patient, "open")
    assert alert["kind"] == "no_data" and alert["opened_at"] == tick


def test_an_idle_run_examines_nothing_and_a_busy_one_only_what_is_due(
    client, factory, setting, mongo, worker
):
    """Every command a run sends, as the server's profiler recorded it, explained: with
    nothing due one index probe examining no document; with one rule due, one document."""
    patient, provider_headers, _, uploader = setting
    add_rule(client, patient, provider_headers, **STALE)
    add_rule(client, patient, provider_headers)  # a threshold rule the run must not read
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    send(client, uploader, last, [110])
    provider = factory.provider()
    for n in range(1, 4):  # three more patients whose uploaders spoke later
        other = factory.patient(timezone="UTC")
        factory.membership(other, provider)
        add_rule(client, other, factory.headers(provider), **STALE)
        other_uploader = make_uploader(client, factory.headers(other))
        send(client, other_uploader, last + timedelta(minutes=5 * n), [120])
    job = no_data_job()
    assert run_job(job, worker, now=last + timedelta(minutes=20))["postponed"] == 4

    idle, idle_counts = profiled(
        mongo, lambda: run_job(job, worker, now=last + timedelta(minutes=29))
    )
    assert idle_counts == {"rules_checked": 0, "alerts_opened": 0, "postponed": 0}
    [probe] = idle
    stats = explained(mongo, probe)
    assert (stats["totalKeysExamined"], stats["totalDocsExamined"]) == (0, 0)

    due_now = last + timedelta(minutes=31)
    probe_then = {**probe, "filter": {**probe["filter"], "check_at": {"$lte": due_now}}}
    stats = explained(mongo, probe_then)
    assert (stats["totalKeysExamined"], stats["totalDocsExamined"]) == (1, 1)
    busy, counts = profiled(mongo, lambda: run_job(job, worker, now=due_now))
    assert (counts["rules_checked"], counts["alerts_opened"]) == (1, 1)
    assert busy[0] == probe_then
    for command in busy:  # the due rule's own reads and writes use indexes too
        for lookup in lookups(command):
            plan = mongo.command("explain", lookup, verbosity="queryPlanner")
            assert "COLLSCAN" not in json.dumps(plan["queryPlanner"], default=str), command


def lookups(command: dict) -> list[dict]:
    """How the server finds what a command touches, as commands its explain plans: an
    update's or a delete's statements as finds (the embedded server's explain of those
    commands themselves names no plan); an insert or an index build finds nothing."""
    name = next(iter(command))
    if name in ("update", "delete"):
        statements = command["updates" if name == "update" else "deletes"]
        return [{"find": command[name], "filter": s["q"]} for s in statements]
    if name in ("find", "findAndModify", "aggregate", "count", "distinct"):
        return [command]
    return []


def profiled(mongo, run) -> tuple[list[dict], object]:
    """The commands `run` sent to this database, in order (the server's profiler), and what
    it returned."""
    mongo.command("profile", 2)
    try:
        result = run()
    finally:
        mongo.command("profile", 0)
    sent = [
        entry["command"]
        for entry in mongo.system.profile.find().sort("ts", 1)
        if "profile" not in entry["command"]
    ]
    mongo.system.profile.drop()
    return sent, result


def explained(mongo, command: dict) -> dict:
    plan = mongo.command("explain", command, verbosity="executionStats")
    assert "COLLSCAN" not in json.dumps(plan["queryPlanner"], default=str), plan
    assert plan["queryPlanner"]["winningPlan"]["inputStage"]["inputStage"]["stage"] == "IXSCAN"
    return plan["executionStats"]
