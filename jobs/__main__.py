"""`python -m jobs`: the background worker, in its own process (never inside gunicorn).

Every job is idempotent and claims its own work in MongoDB, so any number of workers on any
number of hosts can run side by side with in-memory job stores. `--once` runs every job once
at the current time and exits (cron-style deployments, operations).
"""

import argparse
import logging
import signal
import sys
import time
from datetime import timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from pymongo.errors import PyMongoError

from api import db, metrics, migrations
from api.clock import utcnow
from api.config import ConfigError, load_settings
from api.observability import configure_logging, job_run
from jobs import tasks  # noqa: F401 - registers the jobs
from jobs.context import Worker, worker_from_settings
from jobs.registry import JOBS, Job

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
    scheduler = BlockingScheduler(timezone="UTC")
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

    def shutdown(*_signal):
        log.info("worker stopping")
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("worker started", extra={"fields": {"jobs": [job.name for job in JOBS]}})
    scheduler.start()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run every job once, then exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        worker = worker_from_settings(settings)
    except (ConfigError, ValueError) as error:
        print(f"CarePact jobs worker refuses to start: {error}", file=sys.stderr)
        return 1
    configure_logging(settings["LOG_LEVEL"])
    db.connect(settings["MONGODB_URI"], settings["MONGODB_TIMEOUT_MS"])
    try:
        migrations.check_current()
    except migrations.MigrationsBehind as error:
        print(f"CarePact jobs worker refuses to start: {error}", file=sys.stderr)
        return 1
    except PyMongoError as error:
        # Started before its database: the jobs fail (and say so) until it answers.
        log.warning(
            "could not check the database's migrations", extra={"fields": {"error": str(error)}}
        )
    return run_once(worker) if args.once else run_forever(worker)


if __name__ == "__main__":
    sys.exit(main())
