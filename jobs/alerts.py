"""Alert jobs: no_data rules every 15 minutes (pushes held back by quiet hours wait in the
outbox, due when the quiet hours end)."""

from api.services.flows import alerts as alert_flow
from jobs.context import Worker
from jobs.registry import job


@job("alert_no_data", "interval", minutes=15)
def no_data(now, worker: Worker) -> dict:
    return alert_flow.check_no_data(now=now)
