"""Real Nightscout clients from PyPI against the app served by gunicorn on loopback:
`nightscout-cli` (pushes and reads, as a subprocess) and `python-nightscout` (a library)."""

import http.client
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nightscout
import pytest

from api.clock import utcnow
from api.services.tracking import uploaders
from devserver.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def server(mongo_uri, tmp_path):
    port = free_port()
    env = {**os.environ, "MONGODB_URI": mongo_uri, "CAREPACT_ENV": "test", "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(  # noqa: S603 - the project's own app, arguments from the test
        [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("w"),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=15)


def run_cli(port: int, secret: str, *args: str, home: Path) -> subprocess.CompletedProcess:
    """Run `nightscout` as a user would, with no config file and no NIGHTSCOUT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTSCOUT_")}
    env["HOME"] = str(home)
    where = ["--host", "127.0.0.1", "--port", str(port), "--api-secret", secret]
    return subprocess.run(  # noqa: S603 - a client from requirements-dev, arguments from the test
        [str(BIN / "nightscout"), *where, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli(port: int, secret: str, *args: str, home: Path) -> str:
    done = run_cli(port, secret, *args, home=home)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_nightscout_cli_and_python_nightscout(app, factory, server, tmp_path, mongo):
    patient = factory.patient(timezone="Europe/Berlin")
    made = uploaders.create(patient.pk, "nightscout-cli", created_by=patient.pk, now=utcnow())
    key = made["api_secret_sha1"]

    push = ("push", "142", "--minutes-ago", "10", "--direction", "FortyFiveUp")
    out = cli(server, key, *push, home=tmp_path)
    assert "Successfully pushed" in out
    cli(server, key, "push", "150", "--minutes-ago", "5", home=tmp_path)
    cli(server, key, "push", "161", home=tmp_path)

    lines = cli(server, key, "get", "3", home=tmp_path).strip().splitlines()
    assert [line.split()[1] for line in lines] == ["142", "150", "161"]  # printed oldest first
    assert lines[0].split()[3] == "FortyFiveUp"
    listed = cli(server, key, "list", "--count", "2", home=tmp_path).strip().splitlines()
    assert listed[0] == "id,timestamp,value"
    assert [row.split(",")[2] for row in listed[1:]] == ["161", "150"]
    history = cli(server, key, "history", "--days-ago", "0", "--jsonl", home=tmp_path)
    assert [line for line in history.splitlines() if '"sgv"' in line]

    stored = sum(len(b["s"]) for b in mongo.glucose_buckets.find({"patient": patient.pk}))
    assert stored == 3

    # A wrong key: the CLI reports the 401 and fails.
    refused = run_cli(server, "0" * 40, "get", home=tmp_path)
    assert refused.returncode != 0 and "401" in refused.stderr

    # python-nightscout: SHA-1s the secret itself, reads sgv.json and treatments.json.
    api = nightscout.Api(f"http://127.0.0.1:{server}", api_secret=made["secret"])
    sgvs = api.get_sgvs({"count": 2})
    assert [s.sgv for s in sgvs] == [161, 150]
    assert sgvs[0].date.tzinfo is not None
    assert datetime.now(UTC) - sgvs[0].date < timedelta(minutes=5)
    since = (datetime.now(UTC) - timedelta(minutes=7)).isoformat()
    assert [s.sgv for s in api.get_sgvs({"count": 10, "find[dateString][$gte]": since})] == [
        161,
        150,
    ]
    assert api.get_treatments({"count": 5}) == []
