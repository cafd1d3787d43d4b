"""Alert jobs: no_data rules every minute, so a stale-data alarm (a CGM uploader gone quiet
for its PT30M) opens within a minute of its period running out; a run with nothing due is
one index probe (`engine.check_no_data`). Pushes held back by quiet hours wait in the
outbox, due when the quiet hours end."""

from api.services.flows import alerts as alert_flow
from jobs.context import Worker
from jobs.registry import job


@job("alert_no_data", "interval", minutes=1)
def no_data(now, worker: Worker) -> dict:
    return alert_flow.check_no_data(now=now)
