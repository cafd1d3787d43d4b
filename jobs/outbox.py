"""Send the outbox (pushes and mail) every two seconds: an urgent push leaves within seconds."""

from api.services.notify import outbox
from jobs.context import Worker
from jobs.registry import job


@job("send_outbox", "interval", seconds=2)
def send(now, worker: Worker) -> dict:
    return outbox.send_due(
        now=now, worker=worker.name, push=worker.push, mailer=worker.mailer, policy=worker.outbox
    )
