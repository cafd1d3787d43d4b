"""Push channels against a loopback HTTP server: success, 5xx then success, timeout,
unregistered token (the outbox that sends through them: test_outbox.py)."""

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.services.notify import push

SECRET = "webhook-secret-for-tests"


class Loopback:
    """A tiny HTTP server; `replies` is a queue of (status, body) or "hang" per request.

    Each request is kept with its arrival time (`at`, seconds since the epoch)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list = []
        self.hang_s = 0.6  # how long a "hang" reply keeps the caller waiting
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                loopback.requests.append(
                    {"path": self.path, "headers": self.headers, "body": body, "at": time.time()}
                )
                reply = loopback.replies.pop(0) if loopback.replies else (200, {})
                if reply == "hang":
                    time.sleep(loopback.hang_s)
                    reply = (200, {})
                status, payload = reply
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback():
    server = Loopback()
    yield server
    server.close()


@pytest.fixture
def sleeps():
    return []


def message(key="goal:g_walk:2025-01-15T08:00"):
    return push.PushMessage(
        token="device-token-1", platform="android", title="Walk", body="Go", key=key
    )


class TestWebhook:
    def channel(self, loopback, sleeps, **kw):
        return push.WebhookChannel(
            loopback.url + "/push", SECRET, timeout=0.3, max_attempts=3, sleep=sleeps.append, **kw
        )

    def test_success_is_signed_and_carries_the_idempotency_key(self, loopback, sleeps):
        result = self.channel(loopback, sleeps).send(message())
        assert result == push.PushResult(True, attempts=1)
        [request] = loopback.requests
        expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"][push.SIGNATURE_HEADER] == f"sha256={expected}"
        assert request["headers"][push.IDEMPOTENCY_HEADER] == "goal:g_walk:2025-01-15T08:00"
        assert json.loads(request["body"])["token"] == "device-token-1"
        assert sleeps == []

    def test_a_500_is_retried_with_backoff(self, loopback, sleeps):
        loopback.replies = [(500, {}), (503, {}), (200, {})]
        result = self.channel(loopback, sleeps).send(message())
        assert result.ok and result.attempts == 3
        assert sleeps == [0.5, 1.0]
        keys = {r["headers"][push.IDEMPOTENCY_HEADER] for r in loopback.requests}
        assert keys == {"goal:g_walk:2025-01-15T08:00"}

    def test_timeouts_give_up_after_the_bounded_attempts(self, loopback, sleeps):
        loopback.replies = ["hang", "hang", "hang"]
        result = self.channel(loopback, sleeps).send(message())
        assert not result.ok and not result.unregistered
        assert result.attempts == 3
        assert "timed out" in result.error and "after 3 attempts" in result.error
        assert sleeps == [0.5, 1.0]

    def test_410_means_the_token_is_unregistered_and_is_not_retried(self, loopback, sleeps):
        loopback.replies = [(410, {})]
        result = self.channel(loopback, sleeps).send(message())
        assert result.unregistered and not result.ok
        assert len(loopback.requests) == 1

    def test_a_4xx_is_a_failure_without_retry(self, loopback, sleeps):
        loopback.replies = [(400, {})]
        result = self.channel(loopback, sleeps).send(message())
        assert (result.ok, result.error, result.attempts) == (False, "HTTP 400", 1)

    def test_configuration_chooses_the_channel(self, loopback):
        assert isinstance(push.channel_from_config({}), push.LogChannel)
        config = {
            "PUSH_CHANNEL": "webhook",
            "PUSH_WEBHOOK_URL": loopback.url,
            "PUSH_WEBHOOK_SECRET": SECRET,
        }
        assert isinstance(push.channel_from_config(config), push.WebhookChannel)
        with pytest.raises(ValueError, match="PUSH_WEBHOOK_URL"):
            push.channel_from_config({"PUSH_CHANNEL": "webhook"})
        with pytest.raises(ValueError, match="PUSH_CHANNEL"):
            push.channel_from_config({"PUSH_CHANNEL": "carrier-pigeon"})


@pytest.fixture(scope="module")
def service_account():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key.public_key(), pem


class TestFcm:
    def channel(self, loopback, sleeps, service_account, **kw):
        credentials = {
            "type": "service_account",
            "project_id": "carepact-test",
            "private_key_id": "k1",
            "private_key": service_account[1],
            "client_email": "push@carepact-test.iam.gserviceaccount.com",
            "token_uri": loopback.url + "/token",
        }
        return push.FcmChannel(
            credentials,
            base_url=loopback.url,
            timeout=0.3,
            max_attempts=3,
            sleep=sleeps.append,
            **kw,
        )

    def test_success_uses_a_signed_assertion_and_the_collapse_key(
        self, loopback, sleeps, service_account
    ):
        loopback.replies = [(200, {"access_token": "ya29.t", "expires_in": 3600}), (200, {})]
        channel = self.channel(loopback, sleeps, service_account)
        assert channel.send(message()).ok
        token_request, send_request = loopback.requests
        form = urllib.parse.parse_qs(token_request["body"].decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(
            form["assertion"][0],
            service_account[0],
            algorithms=["RS256"],
            audience=loopback.url + "/token",
        )
        assert claims["iss"] == "push@carepact-test.iam.gserviceaccount.com"
        assert claims["scope"] == push.FCM_SCOPE
        assert send_request["path"] == "/v1/projects/carepact-test/messages:send"
        assert send_request["headers"]["Authorization"] == "Bearer ya29.t"
        sent = json.loads(send_request["body"])["message"]
        assert sent["token"] == "device-token-1"
        assert sent["android"]["collapse_key"] == "goal:g_walk:2025-01-15T08:00"
        assert sent["apns"]["headers"]["apns-collapse-id"] == "goal:g_walk:2025-01-15T08:00"
        # The access token is reused for the next message.
        assert channel.send(message("goal:g_walk:2025-01-16T08:00")).ok
        assert [r["path"] for r in loopback.requests][-1].endswith("messages:send")
        assert len(loopback.requests) == 3

    def test_a_500_then_success(self, loopback, sleeps, service_account):
        loopback.replies = [(200, {"access_token": "t", "expires_in": 3600}), (500, {}), (200, {})]
        result = self.channel(loopback, sleeps, service_account).send(message())
        assert result.ok and result.attempts == 2
        assert sleeps == [0.5]

    def test_a_timeout_fails_with_the_reason(self, loopback, sleeps, service_account):
        loopback.replies = [(200, {"access_token": "t", "expires_in": 3600})] + ["hang"] * 3
        result = self.channel(loopback, sleeps, service_account).send(message())
        assert not result.ok and "timed out" in result.error

    def test_an_unregistered_token(self, loopback, sleeps, service_account):
        gone = {
            "error": {
                "code": 404,
                "status": "NOT_FOUND",
                "details": [{"errorCode": "UNREGISTERED"}],
            }
        }
        loopback.replies = [(200, {"access_token": "t", "expires_in": 3600}), (404, gone)]
        result = self.channel(loopback, sleeps, service_account).send(message())
        assert result.unregistered

    def test_a_long_key_becomes_a_stable_64_byte_collapse_id(self):
        key = "checkup:" + "x" * 80
        assert push.collapse_id(key) == push.collapse_id(key)
        assert len(push.collapse_id(key)) == 64
