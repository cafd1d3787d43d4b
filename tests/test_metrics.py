"""`GET /metrics`: only with the operators' token; each figure moves when what it counts
happens; no label ever carries an id or a name; a scrape while the database is away answers.

Scrapes are parsed with prometheus-client's own parser, and each test compares a figure
before and after (the counters of one test process are shared by every test).
"""

import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import create_app, db
from api.clock import utcnow
from api.config import ConfigError, load_settings
from api.extensions import limiter
from api.services.notify import outbox
from api.services.notify.push import LogChannel, PushMessage
from devserver.embedded import free_port
from jobs.context import worker_from_settings
from jobs.registry import JOBS, Job
from jobs.worker import run_job
from tests.log_helpers import GLUCOSE, WALK, entry, plan, post
from tests.test_alerts import rule
from tests.test_outbox import DUE, patient_with_reminder
from tests.test_push import SECRET, Loopback
from tests.test_signup import sign_up

TOKEN = "metrics-token-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@pytest.fixture
def app_config(mongo_uri):
    return {
        "CAREPACT_ENV": "test",
        "MONGODB_URI": mongo_uri,
        "METRICS_TOKEN": TOKEN,
        "MONGODB_TIMEOUT_MS": 1000,
        "READY_TIMEOUT_MS": 500,
    }


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
    ids=["none", "wrong", "basic-scheme", "no-scheme", "longer"],
)
def test_metrics_without_the_token_is_401_problem_json(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "carepact_" not in response.get_data(as_text=True)


def test_metrics_are_closed_to_everyone_when_no_token_is_configured(mongo_uri):
    app = create_app({"CAREPACT_ENV": "test", "MONGODB_URI": mongo_uri})
    response = app.test_client().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_a_request_is_counted_by_route_template_and_status(client, factory):
    p = plan(factory)
    route = "/api/v1/patients/<pid>/adherence"
    before = scrape(client)
    assert client.get(f"/api/v1/patients/{p.patient.pk}/adherence", headers=p.headers).status_code
    missing = client.get("/api/v1/no-such-thing/0123456789abcdef01234567")
    assert missing.status_code == 404
    after = scrape(client)
    counted = {
        labels: n - before.get((name, labels), 0)
        for (name, labels), n in after.items()
        if name == "carepact_http_requests_total" and n != before.get((name, labels), 0)
    }
    routes = {dict(labels)["route"] for labels in counted}
    assert route in routes, counted
    assert (
        value(
            after, "carepact_http_requests_total", method="GET", route="<unmatched>", status="404"
        )
        >= 1
    )
    histogram = "carepact_http_request_duration_seconds_count"
    own = dict(next(labels for labels in counted if dict(labels)["route"] == route))
    assert value(after, histogram, **own) - value(before, histogram, **own) == 1


def test_a_failed_command_under_a_fail_point_is_counted(client, factory, mongo):
    p = plan(factory)
    before = scrape(client)
    admin = mongo.client.admin
    admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["find"], "errorCode": 50},
    )
    try:
        response = client.get("/api/v1/patients/me/logs", headers=p.headers)
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")
    assert response.status_code == 503
    after = scrape(client)
    errors = "carepact_db_command_errors_total"
    assert value(after, errors, command="find") - value(before, errors, command="find") == 1
    unavailable = "carepact_db_unavailable_total"
    assert (
        value(after, unavailable, source="request") - value(before, unavailable, source="request")
        == 1
    )
    sent = "carepact_db_commands_total"
    assert value(after, sent, command="find") > value(before, sent, command="find")
    assert value(after, "carepact_db_up") == 1


def test_job_runs_failures_and_what_they_did_are_counted(client, factory, worker):
    plan(factory, goals=(WALK,))
    planning = next(job for job in JOBS if job.name == "plan_reminders")
    broken = Job("broken_for_the_test", lambda now, worker: 1 / 0, "interval", {})
    before = scrape(client)
    counts = run_job(planning, worker)
    assert run_job(broken, worker) == {"failed": True}
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("carepact_job_runs_total", job="plan_reminders") == 1
    assert moved("carepact_job_failures_total", job="plan_reminders") == 0
    assert moved("carepact_job_duration_seconds_count", job="plan_reminders") == 1
    assert moved("carepact_job_runs_total", job="broken_for_the_test") == 1
    assert moved("carepact_job_failures_total", job="broken_for_the_test") == 1
    for outcome, n in counts.items():
        if isinstance(n, int) and n > 0:
            assert moved("carepact_job_items_total", job="plan_reminders", outcome=outcome) == n


def test_an_alert_opened_and_a_push_are_counted(client, factory, mongo):
    p = plan(factory, goals=(WALK, GLUCOSE))
    rule(client, factory, p, op="above", value=250, unit="mg/dL", severity="urgent")
    before = scrape(client)
    assert post(client, p, entry(p, goal="g_glucose", value=320)).status_code == 201
    assert mongo.alerts.count_documents({"status": "open"}) == 1
    message = PushMessage(token="device-1", platform="ios", title="t", body="b", key="k")
    assert LogChannel().send(message).ok
    after = scrape(client)
    opened = "carepact_alerts_opened_total"
    assert value(after, opened, severity="urgent") - value(before, opened, severity="urgent") == 1
    attempts = "carepact_push_attempts_total"
    labels = {"channel": "log", "outcome": "delivered"}
    assert value(after, attempts, **labels) - value(before, attempts, **labels) == 1


def test_no_label_carries_an_id_or_a_name(client, factory):
    p = plan(factory, goals=(WALK, GLUCOSE), name="Ada Lovelace-Metrics")
    rule(client, factory, p, op="above", value=250, unit="mg/dL")
    post(client, p, entry(p, goal="g_glucose", value=300))
    client.get(f"/api/v1/patients/{p.patient.pk}/logs", headers=p.headers)
    client.get(f"/api/v1/patients/{p.patient.pk}/adherence?goal=x", headers=p.headers)
    client.get(f"/nowhere/{p.patient.pk}/Ada")
    response = client.get("/metrics", headers=AUTH)
    text = response.get_data(as_text=True)
    assert str(p.patient.pk) not in text and str(p.agreement.pk) not in text
    assert "Ada" not in text and p.patient.email not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                assert not OBJECT_ID.search(label_value), (sample.name, label, label_value)
                assert not UUID.search(label_value), (sample.name, label, label_value)


def test_a_scrape_while_the_database_is_away_answers_and_counts_the_outage():
    uri = f"mongodb://127.0.0.1:{free_port()}/metrics_down?directConnection=true"
    app = create_app(
        {
            "CAREPACT_ENV": "test",
            "MONGODB_URI": uri,
            "METRICS_TOKEN": TOKEN,
            "MONGODB_TIMEOUT_MS": 500,
            "READY_TIMEOUT_MS": 300,
        }
    )
    client = app.test_client()
    try:
        with app.app_context():
            first, second = scrape(client), scrape(client)
    finally:
        limiter.storage.close()
        db.disconnect()
    assert value(second, "carepact_db_up") == 0
    scraped = "carepact_db_unavailable_total"
    assert value(second, scraped, source="scrape") - value(first, scraped, source="scrape") == 1
    assert value(second, "process_cpu_seconds_total") > 0
    assert value(second, "process_resident_memory_bytes") > 0


def test_production_refuses_a_guessable_metrics_token():
    strong = "Jx3vQ9-tLw2Rb8nZ_kd5HyP4mGs7Ae1UcVf6oWq0XiEr"
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_settings(
            {"CAREPACT_ENV": "production", "JWT_SECRET_KEY": strong, "METRICS_TOKEN": "metrics"}
        )
    settings = load_settings({"CAREPACT_ENV": "production", "JWT_SECRET_KEY": strong})
    assert settings["METRICS_TOKEN"] is None


def test_outbox_entries_waiting_are_counted_with_the_age_of_the_oldest(client, mongo):
    before = scrape(client)
    assert value(before, "carepact_outbox_pending", kind="mail") == 0
    assert value(before, "carepact_outbox_oldest_pending_age_seconds") == 0
    queued_at = utcnow() - timedelta(minutes=5)
    for n in range(2):
        assert outbox.enqueue_mail(
            key=f"metrics-test-{n}", to="ops@example.org", subject="s", text="t", now=queued_at
        )
    after = scrape(client)
    assert value(after, "carepact_outbox_pending", kind="mail") == 2
    assert value(after, "carepact_outbox_pending", kind="push") == 0
    assert 300 <= value(after, "carepact_outbox_oldest_pending_age_seconds") < 400
    mongo.outbox.update_many({}, {"$set": {"state": "sent"}})
    assert value(scrape(client), "carepact_outbox_pending", kind="mail") == 0


def webhook_worker(app, loopback, **settings):
    """What `python -m jobs` hands its jobs, pushing to the loopback webhook."""
    return worker_from_settings(
        {
            **app.config,
            "PUSH_CHANNEL": "webhook",
            "PUSH_WEBHOOK_URL": loopback.url,
            "PUSH_WEBHOOK_SECRET": SECRET,
            **settings,
        },
        name="metrics-worker",
    )


def job_named(name: str) -> Job:
    return next(job for job in JOBS if job.name == name)


def moves(before, after):
    return lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)


class TestDeliveries:
    """Reminders, pushes and mails are counted as the outbox settles them, not per attempt."""

    def test_a_reminder_whose_push_fails_for_good_is_a_failed_reminder_and_push(
        self, app, client, factory, mongo
    ):
        patient_with_reminder(factory, mongo, "token-1")
        loopback = Loopback()
        loopback.replies = [(500, {})] * 2
        worker = webhook_worker(app, loopback, PUSH_MAX_ATTEMPTS=2)
        sender = job_named("send_outbox")
        try:
            before = scrape(client)
            assert run_job(job_named("dispatch_reminders"), worker, now=DUE)["delivered"] == 1
            assert run_job(sender, worker, now=DUE) == {"push_retrying": 1}
            retrying = scrape(client)
            retry_at = mongo.outbox.find_one()["due_at"]
            assert run_job(sender, worker, now=retry_at) == {"push_failed": 1}
            after = scrape(client)
        finally:
            loopback.close()
        assert len(loopback.requests) == 2
        first = moves(before, retrying)
        assert first("carepact_reminders_total", outcome="delivered") == 1
        assert first("carepact_push_attempts_total", channel="webhook", outcome="failed") == 1
        # Tried once and due again: not a failure yet.
        assert first("carepact_pushes_total", channel="webhook", outcome="failed") == 0
        assert first("carepact_reminders_total", outcome="failed") == 0
        moved = moves(before, after)
        assert moved("carepact_pushes_total", channel="webhook", outcome="failed") == 1
        assert moved("carepact_pushes_total", channel="webhook", outcome="delivered") == 0
        assert moved("carepact_reminders_total", outcome="failed") == 1
        assert moved("carepact_push_attempts_total", channel="webhook", outcome="failed") == 2
        assert mongo.outbox.find_one()["state"] == "failed"

    def push_one_reminder(self, app, client, factory, mongo, reply, counts):
        """A reminder due to one device, sent once while the push service answers `reply`;
        how the metrics moved."""
        patient_with_reminder(factory, mongo, "token-1")
        loopback = Loopback()
        loopback.replies = [reply]
        worker = webhook_worker(app, loopback)
        try:
            before = scrape(client)
            assert run_job(job_named("dispatch_reminders"), worker, now=DUE)["delivered"] == 1
            assert run_job(job_named("send_outbox"), worker, now=DUE) == counts
            return moves(before, scrape(client))
        finally:
            loopback.close()

    def test_a_dead_token_is_a_dropped_push_not_a_failed_reminder(
        self, app, client, factory, mongo
    ):
        moved = self.push_one_reminder(app, client, factory, mongo, (410, {}), {"push_dropped": 1})
        assert moved("carepact_pushes_total", channel="webhook", outcome="dropped") == 1
        assert moved("carepact_push_attempts_total", channel="webhook", outcome="unregistered") == 1
        assert moved("carepact_reminders_total", outcome="failed") == 0
        assert mongo.devices.count_documents({}) == 0

    def test_a_delivered_push_is_counted_once(self, app, client, factory, mongo):
        moved = self.push_one_reminder(app, client, factory, mongo, (200, {}), {"push_sent": 1})
        assert moved("carepact_pushes_total", channel="webhook", outcome="delivered") == 1
        assert moved("carepact_reminders_total", outcome="failed") == 0

    def test_mail_sent_and_refused_for_good_are_counted(self, client, smtp_server):
        before = scrape(client)
        assert sign_up(client, email="ann@example.org").status_code == 202
        assert smtp_server.deliver_outbox() == {"mail_sent": 1}
        smtp_server.refuse_with = "451 Try again later"
        assert sign_up(client, email="bea@example.org", address="10.9.0.2").status_code == 202
        assert smtp_server.deliver_outbox() == {"mail_retrying": 1}
        waiting = scrape(client)
        smtp_server.refuse_with = "550 No such user"
        assert sign_up(client, email="cy@example.org", address="10.9.0.3").status_code == 202
        later = utcnow() + timedelta(minutes=5)  # the 4xx's backoff has run out too
        assert smtp_server.deliver_outbox(later) == {"mail_failed": 2}
        response = client.get("/metrics", headers=AUTH)
        after = scrape(client)
        assert (
            moves(before, waiting)("carepact_mails_total", transport="smtp", outcome="failed") == 0
        )
        moved = moves(before, after)
        assert moved("carepact_mails_total", transport="smtp", outcome="sent") == 1
        assert moved("carepact_mails_total", transport="smtp", outcome="failed") == 2
        text = response.get_data(as_text=True)
        assert "example.org" not in text  # no address in a label
