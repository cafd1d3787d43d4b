"""Every scheduled job: a name, an idempotent function of `now`, and when it runs.

Each function takes the current UTC instant and returns a dict of counts for the log line.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[datetime], dict]
    trigger: str  # "interval" or "cron"
    trigger_args: dict


JOBS: list[Job] = []


def job(name: str, trigger: str, **trigger_args):
    """Register `run(now) -> counts` as a scheduled job."""

    def register(run):
        JOBS.append(Job(name, run, trigger, trigger_args))
        return run

    return register
