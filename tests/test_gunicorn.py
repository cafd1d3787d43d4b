"""The API as deployed: gunicorn with gunicorn.conf.py, as a subprocess (issue 17, holes 7-8).

Half-sent requests and idle connections do not stop it; its `Server` header names no server
software; a chunked body over the limit is a 413 and a body that is not JSON a 415; a
patient's token, remembered unrevoked by the workers (`session_memory`), is refused by every
worker as soon as it is revoked.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from devserver.embedded import free_port
from tests.factories import PASSWORD
from tests.log_helpers import entry, plan

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


@pytest.fixture
def server(mongo_uri):
    port = free_port()
    env = {**os.environ, "CAREPACT_ENV": "test", "MONGODB_URI": mongo_uri, "PORT": str(port)}
    env.pop("BIND", None)
    subprocess.run(  # noqa: S603 - the project's own CLI: migrations before serving
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "init"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
        [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if get(port, "/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield port
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Answer:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()


def get(port, path, timeout=5.0) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def send_json(port, path, body, headers=None, timeout=10.0) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return Answer(connection.getresponse())
    finally:
        connection.close()


def half_sent(port, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def test_half_sent_requests_and_idle_connections_do_not_block_the_api(server):
    stalled = [
        *(half_sent(server, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n") for _ in range(4)),
        *(
            half_sent(
                server,
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"email"',
            )
            for _ in range(4)
        ),
        *(half_sent(server, b"") for _ in range(4)),
    ]
    try:
        time.sleep(0.5)  # every stalled connection has reached a worker
        for _ in range(5):
            started = time.monotonic()
            answer = get(server, "/health", timeout=10)
            assert answer.status == 200
            assert time.monotonic() - started < 3
    finally:
        for sock in stalled:
            sock.close()


def test_the_server_header_names_no_server_software(server):
    answer = get(server, "/health")
    assert "gunicorn" not in answer.headers.get("Server", "").lower()
    assert answer.headers.get("Server") == "CarePact"


def raw_request(port, head: bytes, body_parts=(), timeout=10.0) -> Answer:
    """Send a request byte for byte (chunked bodies included) and read the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.connect()
        try:
            connection.sock.sendall(head)
            for part in body_parts:
                connection.sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading everything; its answer is still there
        response = http.client.HTTPResponse(connection.sock, method="POST")
        response.begin()
        return Answer(response)
    finally:
        connection.close()


def chunked(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_413(server):
    # MAX_BODY_BYTES defaults to 1 MiB; a chunked body carries no Content-Length to refuse early.
    body = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = raw_request(server, head, chunked(body))
    assert answer.status == 413, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert b'"status": 413' in answer.body


def test_a_small_chunked_body_is_read(server):
    body = b'{"email": "nobody@example.org", "password": "wrong password 1"}'
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = raw_request(server, head, chunked(body, size=16))
    assert answer.status == 401, answer.body


def test_a_body_that_is_not_json_is_415(server):
    body = b'{"email": "nobody@example.org", "password": "wrong password 1"}'
    for content_type in (b"text/plain", b"application/x-www-form-urlencoded", b"application/xml"):
        head = b"".join(
            (
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n",
                b"Content-Type: " + content_type + b"\r\n",
                b"Content-Length: " + str(len(body)).encode() + b"\r\n",
                b"Connection: close\r\n\r\n",
            )
        )
        answer = raw_request(server, head, [body])
        assert answer.status == 415, (content_type, answer.body)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert b"application/json" in answer.body


def test_every_worker_refuses_a_remembered_token_once_it_is_revoked(server, factory, mongo):
    p = plan(factory)
    signed_in = send_json(
        server, "/api/v1/auth/login", {"email": p.patient.email, "password": PASSWORD}
    )
    assert signed_in.status == 200, signed_in.body
    headers = {"Authorization": f"Bearer {json.loads(signed_in.body)['access_token']}"}
    # Enough entries, one connection each, for both workers to remember the token.
    for _ in range(12):
        logged = send_json(server, "/api/v1/patients/me/logs", entry(p), headers)
        assert logged.status == 201, logged.body
    assert send_json(server, "/api/v1/auth/logout", {}, headers).status == 204
    for _ in range(12):
        refused = send_json(server, "/api/v1/patients/me/logs", entry(p), headers)
        assert refused.status == 401, refused.body
        assert json.loads(refused.body)["detail"] == "The token has been revoked."
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 12
