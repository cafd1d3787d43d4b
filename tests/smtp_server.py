"""A real SMTP server (aiosmtpd) on a free loopback port, collecting what arrives.

Use the `smtp_server` fixture (tests/conftest.py); see its docstring.
"""

import email
import email.policy
import logging
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from api.clock import utcnow
from api.services.notify import outbox
from api.services.notify.mail import SmtpMailer
from api.services.notify.push import LogChannel
from devserver.embedded import free_port

SENDER = "CarePact <no-reply@carepact.test>"
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        return self.message["To"]

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def text(self) -> str:
        return self.message.get_content()


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.server.refuse_with:
            return self.server.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self):
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.refuse_with: str | None = None  # e.g. "550 No such user" or "451 Try later"
        self.port = free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def settings(self) -> dict:
        return {"SMTP_URL": self.url, "MAIL_FROM": SENDER}

    def mailer(self) -> SmtpMailer:
        return SmtpMailer(self.url, SENDER, timeout=5)

    def deliver_outbox(self, now=None) -> dict:
        """Run the worker's send_outbox job once, in this process, against this server."""
        return outbox.send_due(
            now=now or utcnow(), worker="test", push=LogChannel(), mailer=self.mailer()
        )

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """At least `count` messages, waiting for a worker process to send them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} of {count} mails arrived in {timeout}s")

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
