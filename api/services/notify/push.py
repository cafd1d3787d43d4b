"""Push channels behind one interface: `channel.send(message) -> PushResult`.

`log` (development default) writes a log line; `webhook` POSTs JSON signed with HMAC-SHA256;
`fcm` calls Firebase Cloud Messaging HTTP v1 with an OAuth token obtained from a
service-account key (a signed JWT assertion). Every channel carries the occurrence key (as
idempotency key or collapse key), so a retried delivery never shows twice on a phone.
Timeouts, connection errors and 5xx are retried with exponential backoff, a bounded number
of times; a token the service reports as unregistered comes back as `unregistered`.
"""

import functools
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import jwt

from api import metrics

log = logging.getLogger("carepact.push")

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
SIGNATURE_HEADER = "X-CarePact-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
APNS_COLLAPSE_ID_MAX = 64
TOKEN_REFRESH_MARGIN_S = 60


@dataclass(frozen=True)
class PushMessage:
    token: str
    platform: str
    title: str
    body: str
    key: str  # the occurrence key: idempotency key and collapse key
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PushResult:
    ok: bool
    unregistered: bool = False
    error: str | None = None
    attempts: int = 1
    transient: bool = False  # worth another try later (timeouts, 5xx)


class Channel(Protocol):
    name: str

    def send(self, message: PushMessage) -> PushResult: ...


def counted(send):
    """Count and log each push a channel makes (its outcome, never its content)."""

    @functools.wraps(send)
    def counted_send(channel, message: PushMessage) -> PushResult:
        result = send(channel, message)
        metrics.push_attempted(channel.name, ok=result.ok, unregistered=result.unregistered)
        fields = {"channel": channel.name, "key": message.key, "ok": result.ok}
        fields.update(attempts=result.attempts, unregistered=result.unregistered)
        log.info("push sent" if result.ok else "push failed", extra={"fields": fields})
        return result

    return counted_send


class TransientError(Exception):
    """Worth another try: a timeout, a dropped connection, a 5xx."""


class HttpReply:
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


def post(url: str, body: bytes, headers: dict, timeout: float) -> HttpReply:
    """POST and return the reply; a timeout, a connection error or a 5xx is transient."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"push URLs must be http(s), got {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            reply = HttpReply(response.status, response.read())
    except urllib.error.HTTPError as error:
        reply = HttpReply(error.code, error.read())
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TransientError(f"{type(reason).__name__}: {reason}") from error
    if reply.status >= 500:
        raise TransientError(f"HTTP {reply.status}")
    return reply


def with_retries(
    attempt: Callable[[], PushResult], max_attempts: int, sleep: Callable[[float], None]
) -> PushResult:
    """Call `attempt` until it answers, backing off exponentially between transient errors."""
    for number in range(1, max_attempts + 1):
        try:
            result = attempt()
        except TransientError as error:
            if number == max_attempts:
                reason = f"{error} after {number} attempts" if number > 1 else str(error)
                return PushResult(False, error=reason, attempts=number, transient=True)
            sleep(min(BACKOFF_BASE_S * 2 ** (number - 1), BACKOFF_MAX_S))
            continue
        return PushResult(result.ok, result.unregistered, result.error, attempts=number)
    raise ValueError("max_attempts must be at least 1")


class LogChannel:
    name = "log"

    @counted
    def send(self, message: PushMessage) -> PushResult:
        log.info(
            "push",
            extra={"fields": {"key": message.key, "platform": message.platform}},
        )
        return PushResult(True)


class WebhookChannel:
    """POST `{token, platform, title, body, key, data}`; `X-CarePact-Signature: sha256=<hex>`.

    A 410 Gone means the receiver no longer knows the token.
    """

    name = "webhook"

    def __init__(self, url, secret, *, timeout=5.0, max_attempts=4, sleep=time.sleep):
        if not url or not secret:
            raise ValueError("the webhook channel needs PUSH_WEBHOOK_URL and PUSH_WEBHOOK_SECRET")
        self.url, self.secret = url, secret.encode()
        self.timeout, self.max_attempts, self.sleep = timeout, max_attempts, sleep

    def signature(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    @counted
    def send(self, message: PushMessage) -> PushResult:
        body = json.dumps(
            {
                "token": message.token,
                "platform": message.platform,
                "title": message.title,
                "body": message.body,
                "key": message.key,
                "data": message.data,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: self.signature(body),
            IDEMPOTENCY_HEADER: message.key,
        }

        def attempt() -> PushResult:
            reply = post(self.url, body, headers, self.timeout)
            if reply.status == 410:
                return PushResult(False, unregistered=True, error="token unregistered")
            if reply.status >= 300:
                return PushResult(False, error=f"HTTP {reply.status}")
            return PushResult(True)

        return with_retries(attempt, self.max_attempts, self.sleep)


def collapse_id(key: str) -> str:
    """APNs limits collapse ids to 64 bytes; longer keys are hashed (still stable)."""
    if len(key.encode()) <= APNS_COLLAPSE_ID_MAX:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


class FcmChannel:
    """Firebase Cloud Messaging HTTP v1, authorised by a service-account key."""

    name = "fcm"

    def __init__(
        self,
        credentials: dict,
        *,
        project_id=None,
        base_url="https://fcm.googleapis.com",
        timeout=5.0,
        max_attempts=4,
        sleep=time.sleep,
        clock=time.time,
    ):
        missing = {"client_email", "private_key", "token_uri"} - set(credentials)
        if missing:
            raise ValueError(f"the FCM credential lacks {', '.join(sorted(missing))}")
        self.credentials = credentials
        self.project_id = project_id or credentials.get("project_id")
        if not self.project_id:
            raise ValueError("the fcm channel needs FCM_PROJECT_ID")
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_attempts = timeout, max_attempts
        self.sleep, self.clock = sleep, clock
        self._access_token: str | None = None
        self._expires_at = 0.0

    def assertion(self) -> str:
        issued = int(self.clock())
        claims = {
            "iss": self.credentials["client_email"],
            "scope": FCM_SCOPE,
            "aud": self.credentials["token_uri"],
            "iat": issued,
            "exp": issued + 3600,
        }
        key_id = self.credentials.get("private_key_id")
        headers = {"kid": key_id} if key_id else None
        return jwt.encode(claims, self.credentials["private_key"], "RS256", headers=headers)

    def access_token(self) -> str:
        """An OAuth access token, reused until a minute before it expires."""
        if self._access_token and self.clock() < self._expires_at - TOKEN_REFRESH_MARGIN_S:
            return self._access_token
        form = urllib.parse.urlencode(
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self.assertion(),
            }
        ).encode()
        reply = post(
            self.credentials["token_uri"],
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
            self.timeout,
        )
        token = reply.json().get("access_token")
        if reply.status != 200 or not token:
            raise TransientError(f"OAuth token request answered HTTP {reply.status}")
        self._access_token = token
        self._expires_at = self.clock() + int(reply.json().get("expires_in", 3600))
        return token

    def payload(self, message: PushMessage) -> bytes:
        return json.dumps(
            {
                "message": {
                    "token": message.token,
                    "notification": {"title": message.title, "body": message.body},
                    "data": {"key": message.key, **{k: str(v) for k, v in message.data.items()}},
                    "android": {"collapse_key": message.key},
                    "apns": {"headers": {"apns-collapse-id": collapse_id(message.key)}},
                }
            }
        ).encode()

    @counted
    def send(self, message: PushMessage) -> PushResult:
        url = f"{self.base_url}/v1/projects/{self.project_id}/messages:send"
        body = self.payload(message)

        def attempt() -> PushResult:
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.access_token()}",
            }
            reply = post(url, body, headers, self.timeout)
            if reply.status == 401:
                self._access_token = None  # revoked or expired early: fetch a new one
                raise TransientError("HTTP 401")
            if reply.status < 300:
                return PushResult(True)
            if _unregistered(reply):
                return PushResult(False, unregistered=True, error="token unregistered")
            return PushResult(False, error=f"HTTP {reply.status}")

        return with_retries(attempt, self.max_attempts, self.sleep)


def _unregistered(reply: HttpReply) -> bool:
    """FCM v1 answers 404 NOT_FOUND / errorCode UNREGISTERED for a token it dropped."""
    error = reply.json().get("error") or {}
    codes = {d.get("errorCode") for d in error.get("details") or [] if isinstance(d, dict)}
    return reply.status == 404 or "UNREGISTERED" in codes


def channel_from_config(config, *, sleep=time.sleep, attempts: int = 1) -> Channel:
    """The channel `PUSH_CHANNEL` names, configured from the settings.

    One attempt per send by default: the outbox retries later with backoff, so a worker
    never sleeps on one push while others wait."""
    name = config.get("PUSH_CHANNEL", "log")
    timeout = config.get("PUSH_TIMEOUT_S", 5)
    if name == "log":
        return LogChannel()
    if name == "webhook":
        return WebhookChannel(
            config.get("PUSH_WEBHOOK_URL"),
            config.get("PUSH_WEBHOOK_SECRET"),
            timeout=timeout,
            max_attempts=attempts,
            sleep=sleep,
        )
    if name == "fcm":
        path = config.get("FCM_CREDENTIALS_FILE")
        if not path:
            raise ValueError("the fcm channel needs FCM_CREDENTIALS_FILE")
        with open(path, encoding="utf-8") as file:
            credentials = json.load(file)
        return FcmChannel(
            credentials,
            project_id=config.get("FCM_PROJECT_ID"),
            base_url=config.get("FCM_BASE_URL") or "https://fcm.googleapis.com",
            timeout=timeout,
            max_attempts=attempts,
            sleep=sleep,
        )
    raise ValueError(f"PUSH_CHANNEL must be log, webhook or fcm, got {name!r}")
