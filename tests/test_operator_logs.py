"""Logs an operator can read: one JSON object per line, CarePact's events at INFO with the
request or job run that caused them, third-party chatter only from WARNING up."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.observability import THIRD_PARTY_LOGGERS, JsonFormatter
from jobs.registry import JOBS
from jobs.worker import run_job
from tests.log_helpers import GLUCOSE, WALK, entry, plan, post
from tests.test_alerts import rule
from tests.test_reminders import walk

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lines():
    """What the root logger writes, as the deployed formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_third_party_loggers_speak_from_warning_up(app):
    for name in THIRD_PARTY_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    assert logging.getLogger("carepact.jobs").getEffectiveLevel() == logging.INFO


def test_an_alert_opened_by_a_request_is_logged_with_that_request_id(client, factory, mongo, lines):
    p = plan(factory, goals=(WALK, GLUCOSE))
    rule(client, factory, p, op="above", value=250, unit="mg/dL", severity="urgent")
    response = post(
        client,
        p,
        entry(p, goal="g_glucose", value=320),
        headers={**p.headers, "X-Request-ID": "req-abc.1"},
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-abc.1"
    [opened] = [line for line in lines() if line["msg"] == "alert opened"]
    [alert] = mongo.alerts.find()
    assert opened["level"] == "INFO"
    assert opened["request_id"] == "req-abc.1"
    assert opened["alert_id"] == str(alert["_id"])
    assert opened["severity"] == "urgent"
    assert "320" not in json.dumps(opened)  # the reading itself stays out of the log
    access = [line for line in lines() if line["msg"] == "request"]
    assert access[-1]["request_id"] == "req-abc.1" and access[-1]["status"] == 201
    # After the request, nothing is attributed to it any more.
    logging.getLogger("carepact.test").info("between requests")
    assert "request_id" not in lines()[-1]


def _worker(args, mongo_uri, **popen):
    env = {**os.environ, "MONGODB_URI": mongo_uri, "CAREPACT_ENV": "test", "LOG_LEVEL": "INFO"}
    return subprocess.Popen(  # noqa: S603 - our own worker, fixed arguments
        [sys.executable, "-m", "jobs", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_the_worker_logs_each_job_run_as_json_with_its_own_run_id(mongo_uri, factory):
    patient = factory.patient(timezone="UTC")
    factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
    worker = _worker(["--once"], mongo_uri)
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 0, stderr
    logged = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    runs = [line for line in logged if line["msg"] == "job run"]
    assert {line["job"] for line in runs} >= {"plan_reminders", "dispatch_reminders"}
    assert all(line["level"] == "INFO" and len(line["job_run_id"]) == 32 for line in runs)
    assert len({line["job_run_id"] for line in runs}) == len(runs)
    [planned] = [line for line in runs if line["job"] == "plan_reminders"]
    assert planned["planned"] >= 1  # the run's counts are on its line
    assert not [line for line in logged if line["logger"].split(".")[0] != "carepact"]


def test_the_scheduler_adding_its_jobs_is_not_logged(app, mongo_uri):
    worker = _worker([], mongo_uri)
    try:
        started = worker.stderr.readline()
        assert json.loads(started)["msg"] == "worker started", started
        time.sleep(1.0)  # the line comes just before the scheduler starts
    finally:
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=60)
    logged = [json.loads(line) for line in [started, *rest.splitlines()]]
    assert [line["msg"] for line in logged] == ["worker started", "worker stopping"]


def test_a_push_sent_by_the_outbox_job_is_logged_with_its_run_id(
    client, factory, mongo, lines, worker
):
    p = plan(factory, goals=(WALK, GLUCOSE))
    rule(client, factory, p, op="above", value=250, unit="mg/dL", severity="urgent")
    phone = {"platform": "android", "token": "logs-phone"}
    assert client.post("/api/v1/patients/me/devices", json=phone, headers=p.headers).status_code
    assert post(client, p, entry(p, goal="g_glucose", value=320)).status_code == 201
    assert mongo.outbox.count_documents({"kind": "push", "state": "pending"}) >= 1
    sender = next(job for job in JOBS if job.name == "send_outbox")
    assert run_job(sender, worker).get("failed") is None
    [run] = [line for line in lines() if line["msg"] == "job run"]
    sent = [line for line in lines() if line["msg"] == "push sent"]
    assert sent and all(line["job_run_id"] == run["job_run_id"] for line in sent)
    assert all(line["job"] == "send_outbox" and "request_id" not in line for line in sent)
    assert {line["channel"] for line in sent} == {"log"}
