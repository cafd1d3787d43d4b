"""What every job is given besides `now`: the settings and what is built once from them.

Jobs run in APScheduler's pool threads, where no Flask app context exists; they read nothing
ambient. The worker builds one `Worker` at start and hands it to each run.
"""

import os
import socket
from dataclasses import dataclass

from api.services.notify import push
from api.services.notify.mail import Mailer, mailer_from_settings
from api.services.notify.outbox import Policy, policy_from_settings


@dataclass(frozen=True)
class Worker:
    name: str  # host:pid, the owner of this worker's claims and leases
    settings: dict
    push: push.Channel
    mailer: Mailer
    outbox: Policy


def worker_from_settings(settings: dict, name: str | None = None) -> Worker:
    """Raises ValueError when the push channel or the mailer cannot be configured."""
    return Worker(
        name=name or f"{socket.gethostname()}:{os.getpid()}",
        settings=settings,
        push=push.channel_from_config(settings),
        mailer=mailer_from_settings(settings),
        outbox=policy_from_settings(settings),
    )
