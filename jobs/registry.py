"""Every scheduled job: a name, an idempotent function of (now, worker), and when it runs.

Each function takes the current UTC instant and the `jobs.context.Worker` (settings, push
channel, mailer) and returns a dict of counts for the log line.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jobs.context import Worker


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[datetime, Worker], dict]
    trigger: str  # "interval" or "cron"
    trigger_args: dict


JOBS: list[Job] = []


def job(name: str, trigger: str, **trigger_args):
    """Register `run(now, worker) -> counts` as a scheduled job."""

    def register(run):
        JOBS.append(Job(name, run, trigger, trigger_args))
        return run

    return register
