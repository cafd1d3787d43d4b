"""Alert jobs: no_data rules every 15 minutes; pushes held back by quiet hours every minute."""

from api.services.alerts import engine as alerts
from jobs.context import Worker
from jobs.registry import job


@job("alert_no_data", "interval", minutes=15)
def no_data(now, worker: Worker) -> dict:
    return alerts.check_no_data(now=now)


@job("alert_deferred_pushes", "interval", minutes=1)
def deferred_pushes(now, worker: Worker) -> dict:
    return alerts.push_deferred(now=now, channel=worker.push)
