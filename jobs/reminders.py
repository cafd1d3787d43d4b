"""Reminder jobs: plan the next two days every hour; dispatch what is due every minute."""

from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from jobs.context import Worker
from jobs.registry import job


@job("plan_reminders", "interval", hours=1)
def plan(now, worker: Worker) -> dict:
    return reminders.plan_all(now)


@job("dispatch_reminders", "interval", minutes=1)
def deliver(now, worker: Worker) -> dict:
    return dispatch.tick(now, worker=worker.name)
