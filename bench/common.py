"""Shared tools of the benchmarks: servers, gunicorn, load, command counting, the summary line."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from pymongo import monitoring

from devserver.embedded import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parent.parent


class CommandCounter(monitoring.CommandListener):
    """Counts every command any pymongo client in this process sends, by name and collection."""

    def __init__(self):
        self.commands: Counter = Counter()
        self._lock = threading.Lock()

    def started(self, event):
        collection = event.command.get(event.command_name)
        with self._lock:
            self.commands[
                (event.command_name, collection if isinstance(collection, str) else "")
            ] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def reset(self) -> None:
        with self._lock:
            self.commands.clear()

    @property
    def total(self) -> int:
        return sum(self.commands.values())

    def on(self, collection: str) -> int:
        return sum(n for (_, coll), n in self.commands.items() if coll == collection)


# Registered before any client exists, so every client in the process reports to it.
counter = CommandCounter()
monitoring.register(counter)


@contextmanager
def embedded_server():
    server = EmbeddedMongo().start()
    try:
        yield server
    finally:
        _let_go_of_the_app()
        server.stop()


def _let_go_of_the_app() -> None:
    """Close what an in-process app (`make_app`) holds on the server before it stops: clients
    left to the interpreter's exit wait out their timeouts against a server that is gone."""
    from api import db
    from api.extensions import limiter

    if limiter.initialized:  # an app was built
        limiter.storage.close()
    db.disconnect()


def database_uri(server: EmbeddedMongo, name: str) -> str:
    return f"mongodb://127.0.0.1:{server.port}/{name}?directConnection=true"


def make_app(uri: str):
    """The app on `uri`, the database brought up by `init` as a deployment's is."""
    from api import create_app, migrations
    from api.clock import utcnow

    app = create_app({"CAREPACT_ENV": "development", "MONGODB_URI": uri, "LOG_LEVEL": "WARNING"})
    migrations.init(now=utcnow())
    return app


def start_gunicorn(
    target: str, port: int, env: dict, workers: int, output=subprocess.DEVNULL
) -> subprocess.Popen:
    """`gunicorn target` on `port`, answering once this returns; its logs go to `output`."""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            target,
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=output,
    )
    deadline = time.monotonic() + 90  # a loaded 2-core machine boots 4 workers slowly
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/")
            connection.getresponse().read()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.terminate()
        raise RuntimeError(f"gunicorn {target} did not start")
    time.sleep(1.0)
    return process


@contextmanager
def gunicorn(target: str, uri: str, workers: int = 4):
    """`gunicorn target` on a free port with MONGODB_URI; yields the port."""
    port = free_port()
    env = {**os.environ, "MONGODB_URI": uri, "CAREPACT_ENV": "development", "LOG_LEVEL": "WARNING"}
    process = start_gunicorn(target, port, env, workers)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def floor_client(number: int) -> dict:
    """Headers that give each client of a floor route its own patient (bench.floor_app)."""
    return {"X-Bench-Client": str(number)}


def load(port: int, path: str, make_body, headers, *, clients: int = 8, seconds: float = 10):
    """POST from `clients` threads for `seconds`; returns (requests/s, statuses Counter).

    `make_body(n)` gives client n's next body; `headers` is a dict, or a function of the
    client's number giving each client its own."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(number: int):
        local: Counter = Counter()
        own = headers(number) if callable(headers) else headers
        while time.monotonic() < stop:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request(
                "POST",
                path,
                json.dumps(make_body(number)),
                {**own, "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            connection.close()
            local[response.status] += 1
        with lock:
            statuses.update(local)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(statuses.values()) / (time.monotonic() - started), statuses


def assert_no_collscan(cursor, what: str) -> None:
    plan = json.dumps(cursor.explain().get("queryPlanner", {}), default=str)
    if "COLLSCAN" in plan:
        raise AssertionError(f"{what} scans the whole collection: {plan}")
    print(f"  index used: {what}")


def summary(
    name: str, *, figure: str, floor: str, ratio: float, commands: float, goal: str, passed: bool
) -> bool:
    print(
        f"{name}: figure={figure} floor={floor} ratio={ratio:.2f} "
        f"commands_per_op={commands:.1f} goal={goal} {'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return passed


def timing_summary(
    name: str, *, figure_s: float, floor_s: float, commands: float, goal: float, ok: bool
) -> bool:
    """The summary line of a benchmark that times a call against a floor (goal: a ratio at
    most `goal`); `ok` carries the benchmark's own extra condition."""
    ratio = figure_s / floor_s
    return summary(
        name,
        figure=f"{figure_s * 1000:.1f}ms",
        floor=f"{floor_s * 1000:.1f}ms",
        ratio=ratio,
        commands=commands,
        goal=f"<={goal}",
        passed=ratio <= goal and ok,
    )


# The plan the ingest and load benchmarks log against: a daily walk and glucose in range.
WALK_AND_GLUCOSE_GOALS = [
    {
        "id": "g_walk",
        "kind": "exercise",
        "title": "Walk",
        "measure": "exercise_minutes",
        "unit": "min",
        "target": {"op": "at_least", "value": 30},
        "period": "day",
    },
    {
        "id": "g_glucose",
        "kind": "monitoring",
        "title": "Glucose",
        "measure": "blood_glucose",
        "unit": "mg/dL",
        "target": {"op": "between", "low": 70, "high": 180},
        "period": "day",
    },
]
