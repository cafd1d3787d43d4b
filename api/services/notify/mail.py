"""Mail transports behind one interface: `mailer.send(mail)`; only the jobs worker calls it.

`SmtpMailer` speaks SMTP to `SMTP_URL` (`smtp://user:pass@host:port`, upgraded with STARTTLS
whenever the server offers it, or `smtps://` for TLS from the first byte). Without SMTP_URL,
outside production, `FileMailer` writes each mail as an `.eml` file under `MAIL_DIR`
(`var/mail/`) and logs where, so a developer reads the codes `make run` sends.

A failure worth another try raises `MailError(transient=True)` (connection trouble, 4xx);
a refusal that will not change (5xx: no such mailbox, rejected sender) `transient=False`.
"""

import hashlib
import logging
import re
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

log = logging.getLogger("carepact.mail")

DEFAULT_SENDER = "CarePact <no-reply@carepact.localhost>"


@dataclass(frozen=True)
class Mail:
    key: str  # the outbox key: also the Message-ID, so a resent mail is recognisably the same
    to: str
    subject: str
    text: str


class MailError(Exception):
    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.transient = transient


class Mailer(Protocol):
    name: str

    def send(self, mail: Mail) -> None: ...


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@carepact>"


def compose(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(mail.key)
    message.set_content(mail.text)
    return message


class SmtpMailer:
    name = "smtp"

    def __init__(self, url: str, sender: str, *, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://user:pass@host:port, got {url!r}")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 587)
        self.user = urllib.parse.unquote(parts.username or "")
        self.password = urllib.parse.unquote(parts.password or "")
        self.sender, self.timeout = sender, timeout

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp

    def send(self, mail: Mail) -> None:
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(compose(mail, self.sender))
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise MailError(
                f"recipient refused: {codes}", transient=all(400 <= c < 500 for c in codes)
            ) from error
        except smtplib.SMTPResponseException as error:
            raise MailError(
                f"SMTP {error.smtp_code}", transient=400 <= error.smtp_code < 500
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"{type(error).__name__}: {error}", transient=True) from error


class FileMailer:
    """Development: each mail becomes a file to open; nothing leaves the machine."""

    name = "file"

    def __init__(self, directory: str, sender: str):
        self.directory, self.sender = Path(directory), sender

    def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", mail.key)[:100]
        path = self.directory / f"{safe}.eml"
        path.write_bytes(bytes(compose(mail, self.sender)))
        log.info("mail written", extra={"fields": {"to": mail.to, "path": str(path.resolve())}})


def mailer_from_settings(settings) -> Mailer:
    """SMTP when SMTP_URL is set; files under MAIL_DIR otherwise (never in production)."""
    sender = settings.get("MAIL_FROM") or DEFAULT_SENDER
    url = settings.get("SMTP_URL")
    if url:
        return SmtpMailer(url, sender, timeout=settings.get("SMTP_TIMEOUT_S", 10))
    if settings.get("CAREPACT_ENV") == "production":
        raise ValueError("SMTP_URL is not set; production sends mail through an SMTP server")
    return FileMailer(settings.get("MAIL_DIR") or "var/mail", sender)
