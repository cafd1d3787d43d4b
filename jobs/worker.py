"""The background worker `python -m jobs` runs, in its own process (never inside gunicorn).

Every job is idempotent and claims its own work in MongoDB, so any number of workers on any
number of hosts can run side by side with in-memory job stores. `--once` runs every job once
at the current time and exits (cron-style deployments, operations). SIGTERM or SIGINT at any
moment stops it with one "worker stopping" line and exit code 0 (`jobs.stopping`): a job
running in the scheduler's pool is let finish, a `--once` run stops where it is (every job
is idempotent, so the next run picks up).
"""

import argparse
import logging
import signal
import sys
import time
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from pymongo.errors import PyMongoError

from api import db, install_service_settings, metrics, migrations, session_ledger
from api.clock import utcnow
from api.config import ConfigError, load_settings
from api.observability import configure_logging, job_run
from jobs import tasks  # noqa: F401 - registers the jobs
from jobs.context import Worker, worker_from_settings
from jobs.registry import JOBS, Job
from jobs.stopping import SIGNALS, Stop

log = logging.getLogger("carepact.jobs")


def run_job(job: Job, worker: Worker, now=None) -> dict:
    with job_run(job.name):
        started = time.perf_counter()
        now = now or utcnow()
        try:
            counts = job.run(now, worker) or {}
        except Exception:
            metrics.job_finished(job.name, time.perf_counter() - started, None)
            log.exception("job failed", extra={"fields": {"job": job.name}})
            return {"failed": True}
        seconds = time.perf_counter() - started
        metrics.job_finished(job.name, seconds, counts)
        fields = {"job": job.name, "duration_ms": round(seconds * 1000, 1), **counts}
        log.info("job run", extra={"fields": fields})
        return counts


def run_once(worker: Worker) -> int:
    # The outbox last: it sends what the other jobs of this run queued.
    ordered = sorted(JOBS, key=lambda job: job.name == "send_outbox")
    failures = sum(1 for job in ordered if run_job(job, worker).get("failed"))
    return 1 if failures else 0


def trigger_args(job: Job, test_interval_s: int) -> dict:
    """The job's schedule; in tests (JOBS_TEST_INTERVAL_S) no interval is longer than that."""
    if job.trigger != "interval" or not test_interval_s:
        return job.trigger_args
    if timedelta(**job.trigger_args) <= timedelta(seconds=test_interval_s):
        return job.trigger_args
    return {"seconds": test_interval_s}


def run_forever(worker: Worker) -> int:
    """Until a signal: the jobs run in the scheduler's pool, the main thread only waits."""
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger,
            args=[job, worker],
            id=job.name,
            max_instances=1,
            coalesce=True,
            **trigger_args(job, worker.settings["JOBS_TEST_INTERVAL_S"]),
        )
    scheduler.start()
    log.info("worker started", extra={"fields": {"jobs": [job.name for job in JOBS]}})
    try:
        with SIGNALS.interruptible():
            while True:
                signal.pause()
    except Stop as stop:
        stopping(stop)
        scheduler.shutdown(wait=True)
    return 0


def stopping(stop: Stop) -> None:
    log.info("worker stopping", extra={"fields": {"signal": str(stop)}})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run every job once, then exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        worker = worker_from_settings(settings)
        install_service_settings(settings)
    except (ConfigError, ValueError) as error:
        print(f"CarePact jobs worker refuses to start: {error}", file=sys.stderr)
        return 1
    configure_logging(settings["LOG_LEVEL"])
    try:
        with SIGNALS.interruptible():
            if not database_ready(settings):
                return 1
            if args.once:
                return run_once(worker)
    except Stop as stop:
        stopping(stop)
        return 0
    return run_forever(worker)


def database_ready(settings: dict) -> bool:
    """False when the database's migrations are behind this release (said on stderr)."""
    db.connect(settings["MONGODB_URI"], settings["MONGODB_TIMEOUT_MS"])
    # A worker killed inside a transaction left it open, blocking its documents' writers.
    session_ledger.abort_dead(settings["MONGODB_URI"])
    try:
        migrations.check_current()
    except migrations.MigrationsBehind as error:
        print(f"CarePact jobs worker refuses to start: {error}", file=sys.stderr)
        return False
    except PyMongoError as error:
        # Started before its database: the jobs fail (and say so) until it answers.
        log.warning(
            "could not check the database's migrations", extra={"fields": {"error": str(error)}}
        )
    return True
