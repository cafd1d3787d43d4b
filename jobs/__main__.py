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

from apscheduler.schedulers.blocking import BlockingScheduler

from api import create_app, metrics
from api.clock import utcnow
from api.config import ConfigError
from api.observability import job_run
from jobs import tasks  # noqa: F401 - registers the jobs
from jobs.registry import JOBS, Job

log = logging.getLogger("carepact.jobs")


def run_job(job: Job, now=None) -> dict:
    with job_run(job.name):
        started = time.perf_counter()
        now = now or utcnow()
        try:
            counts = job.run(now) or {}
        except Exception:
            metrics.job_finished(job.name, time.perf_counter() - started, None)
            log.exception("job failed", extra={"fields": {"job": job.name}})
            return {"failed": True}
        seconds = time.perf_counter() - started
        metrics.job_finished(job.name, seconds, counts)
        fields = {"job": job.name, "duration_ms": round(seconds * 1000, 1), **counts}
        log.info("job run", extra={"fields": fields})
        return counts


def run_once() -> int:
    failures = sum(1 for job in JOBS if run_job(job).get("failed"))
    return 1 if failures else 0


def run_forever() -> int:
    scheduler = BlockingScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger,
            args=[job],
            id=job.name,
            max_instances=1,
            coalesce=True,
            **job.trigger_args,
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
        app = create_app()
    except ConfigError as error:
        print(f"CarePact jobs worker refuses to start: {error}", file=sys.stderr)
        return 1
    with app.app_context():
        return run_once() if args.once else run_forever()


if __name__ == "__main__":
    sys.exit(main())
