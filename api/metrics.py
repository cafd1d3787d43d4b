"""What CarePact counts for its operators, and the Prometheus text a scrape returns.

Labels carry only names fixed in code: route templates, database command names, job names,
outcomes, channels, severities. Never an id, a name or anything a patient typed.

Under gunicorn (several workers) and the jobs worker, every process writes its samples to
files in PROMETHEUS_MULTIPROC_DIR (set before Python starts, as `make run` does); a scrape of
any API worker adds them up, so the jobs worker's figures appear in the API's `/metrics` too.
Without that directory (tests, one process) the samples live in this process.
"""

import os
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from pymongo import monitoring

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"

REQUESTS = Counter(
    "carepact_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "carepact_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
)
DB_COMMANDS = Counter(
    "carepact_db_commands_total", "Database commands sent, by command.", ["command"]
)
DB_COMMAND_ERRORS = Counter(
    "carepact_db_command_errors_total", "Database commands that failed, by command.", ["command"]
)
DB_COMMAND_SECONDS = Histogram(
    "carepact_db_command_duration_seconds",
    "Database command round trips, by command.",
    ["command"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
DB_UNAVAILABLE = Counter(
    "carepact_db_unavailable_total",
    "Times the database could not be reached: a request answered 503, or a scrape's check.",
    ["source"],
)
JOB_RUNS = Counter("carepact_job_runs_total", "Job runs, by job.", ["job"])
JOB_FAILURES = Counter("carepact_job_failures_total", "Job runs that raised, by job.", ["job"])
JOB_SECONDS = Histogram(
    "carepact_job_duration_seconds",
    "Job run time, by job.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
JOB_ITEMS = Counter(
    "carepact_job_items_total",
    "What job runs report having done (delivered, skipped, closed...), by job and outcome.",
    ["job", "outcome"],
)
REMINDERS = Counter(
    "carepact_reminders_total",
    "Reminders put in the inbox (delivered), not sent (skipped, expired), or whose push to a "
    "device failed for good (failed, once per device).",
    ["outcome"],
)
PUSHES = Counter(
    "carepact_pushes_total",
    "Pushes to one device as the outbox settled them: delivered, failed (for good: attempts "
    "ran out or refused), dropped (the device was removed, or its token is dead).",
    ["channel", "outcome"],
)
PUSH_ATTEMPTS = Counter(
    "carepact_push_attempts_total",
    "Calls to the push service, by channel and answer (delivered, failed, unregistered); "
    "a failed one may be tried again later.",
    ["channel", "outcome"],
)
MAILS = Counter(
    "carepact_mails_total",
    "Mails as the outbox settled them: sent, or failed (for good: attempts ran out or "
    "refused), by transport.",
    ["transport", "outcome"],
)
ALERTS_OPENED = Counter("carepact_alerts_opened_total", "Alerts opened, by severity.", ["severity"])


def request_answered(method: str, route: str | None, status: int, seconds: float) -> None:
    labels = (method, route or UNMATCHED_ROUTE, str(status))
    REQUESTS.labels(*labels).inc()
    REQUEST_SECONDS.labels(*labels).observe(seconds)


def job_finished(job: str, seconds: float, counts: dict | None) -> None:
    """`counts` as the job returned them; None when the run raised."""
    JOB_RUNS.labels(job).inc()
    JOB_SECONDS.labels(job).observe(seconds)
    if counts is None:
        JOB_FAILURES.labels(job).inc()
        return
    for outcome, n in counts.items():
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            JOB_ITEMS.labels(job, outcome).inc(n)


def push_attempted(channel: str, *, ok: bool, unregistered: bool) -> None:
    outcome = "unregistered" if unregistered else "delivered" if ok else "failed"
    PUSH_ATTEMPTS.labels(channel, outcome).inc()


def push_settled(channel: str, outcome: str, *, reminder: bool) -> None:
    """One outbox push's send, as the outbox tells it: sent, failed, dropped or retrying (not
    settled yet: its attempt is counted, its end will be)."""
    if outcome == "retrying":
        return
    PUSHES.labels(channel, "delivered" if outcome == "sent" else outcome).inc()
    if reminder and outcome == "failed":
        REMINDERS.labels("failed").inc()


def mail_settled(transport: str, outcome: str) -> None:
    """One outbox mail's send: sent, failed or retrying (not settled yet)."""
    if outcome != "retrying":
        MAILS.labels(transport, outcome).inc()


class CommandMetrics(monitoring.CommandListener):
    """Counts and times every command of the client it is given to (api/db.py)."""

    def started(self, event):
        pass

    def succeeded(self, event):
        DB_COMMANDS.labels(event.command_name).inc()
        DB_COMMAND_SECONDS.labels(event.command_name).observe(event.duration_micros / 1e6)

    def failed(self, event):
        DB_COMMANDS.labels(event.command_name).inc()
        DB_COMMAND_ERRORS.labels(event.command_name).inc()
        DB_COMMAND_SECONDS.labels(event.command_name).observe(event.duration_micros / 1e6)


command_metrics = CommandMetrics()


class ScrapeTimeGauges:
    """Gauges read from the database when scraped: `carepact_db_up`, and the metric
    families each reading returns. A database that does not answer gives `up 0` (and is
    counted), never a failed scrape."""

    def __init__(self, ping: Callable[[], None], readings: Iterable[Callable[[], list]]):
        self.ping = ping
        self.readings = list(readings)

    def collect(self):
        up = GaugeMetricFamily("carepact_db_up", "1 when the database answered this scrape.")
        try:
            self.ping()
            families = [family for reading in self.readings for family in reading()]
        except Exception:  # any driver error means "not now": the scrape still answers
            DB_UNAVAILABLE.labels("scrape").inc()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def outbox_backlog(now: datetime) -> list:
    """How many pushes and mails wait for the worker, and how long the oldest has waited:
    two counts and one read on the pending-only index."""
    from api.models.outbox import KINDS, OutboxEntry

    outbox = OutboxEntry._get_collection()
    depth = GaugeMetricFamily(
        "carepact_outbox_pending", "Outbox entries waiting to be sent, by kind.", labels=["kind"]
    )
    for kind in KINDS:
        depth.add_metric([kind], outbox.count_documents({"state": "pending", "kind": kind}))
    oldest = outbox.find_one(
        {"state": "pending"}, {"created_at": 1}, sort=[("state", 1), ("due_at", 1)]
    )
    age = (now - oldest["created_at"]).total_seconds() if oldest else 0.0
    return [
        depth,
        GaugeMetricFamily(
            "carepact_outbox_oldest_pending_age_seconds",
            "Seconds the oldest-due waiting outbox entry has waited since it was queued.",
            value=max(age, 0.0),
        ),
    ]


def exposition(gauges: ScrapeTimeGauges) -> tuple[bytes, str]:
    """The text of a scrape: every process's counters, this process's own figures, and the
    gauges read now."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        ProcessCollector(registry=registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    now = CollectorRegistry()
    now.register(gauges)
    return counted + generate_latest(now), CONTENT_TYPE_LATEST
