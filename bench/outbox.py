"""How soon an urgent alert's push leaves: from the reading's request to a loopback webhook.

The app answers in this process; `python -m jobs` runs as deployed, with its default
schedule (send_outbox every 2 s), against the same embedded database. Each of READINGS
patients has an urgent low-glucose rule and a phone; a low reading opens the alert, the
request queues the push, the worker sends it. Figure: the slowest reading → webhook time;
goal: within 10 s. Floor: the webhook call alone, made directly. Also printed: the request's
own time (it queues, never sends) and its database commands.
"""

import os
import subprocess
import sys
import time

from bench import common
from tests.factories import Factory
from tests.test_outbox import low_reading, urgent_plan
from tests.test_push import SECRET, Loopback

NAME = "outbox"
GOAL_S = 10.0
READINGS = 12


def _start_worker(uri: str, webhook: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "CAREPACT_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "PUSH_CHANNEL": "webhook",
        "PUSH_WEBHOOK_URL": webhook,
        "PUSH_WEBHOOK_SECRET": SECRET,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "jobs"], cwd=common.ROOT, env=env, stderr=subprocess.DEVNULL
    )


def _floor_seconds(webhook: str) -> float:
    from api.services.notify.push import PushMessage, WebhookChannel

    channel = WebhookChannel(webhook, SECRET, timeout=5, max_attempts=1)
    device = "floor-device"
    message = PushMessage(token=device, platform="android", title="x", body="y", key="floor")
    times = []
    for _ in range(5):
        started = time.perf_counter()
        assert channel.send(message).ok
        times.append(time.perf_counter() - started)
    return min(times)


def _wait(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing within {timeout}s")


def main() -> bool:
    loopback = Loopback()
    with common.embedded_server() as server:
        uri = common.database_uri(server, "bench_outbox")
        app = common.make_app(uri)
        with app.app_context():
            client, factory = app.test_client(), Factory(app)
            plans = [urgent_plan(client, factory) for _ in range(READINGS)]
            worker = _start_worker(uri, loopback.url)
            try:
                time.sleep(3)  # the worker's start, so the first reading is timed like the rest
                floor = _floor_seconds(loopback.url)
                loopback.requests.clear()
                latencies, requests_s, commands = [], [], []
                for number, p in enumerate(plans, start=1):
                    common.counter.reset()
                    started, wall = time.perf_counter(), time.time()
                    assert low_reading(client, p).status_code == 201
                    requests_s.append(time.perf_counter() - started)
                    commands.append(common.counter.total)
                    _wait(lambda n=number: len(loopback.requests) >= n, 30)
                    latencies.append(loopback.requests[number - 1]["at"] - wall)
                    time.sleep(0.37)  # readings land at different points of the 2 s tick
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    loopback.close()
    slowest, median = max(latencies), sorted(latencies)[len(latencies) // 2]
    print(
        f"  {READINGS} urgent alerts: reading → webhook median {median:.2f}s, slowest "
        f"{slowest:.2f}s (goal {GOAL_S:.0f}s); the webhook call alone {floor * 1000:.1f} ms; "
        f"the reading's request {max(requests_s) * 1000:.1f} ms at most, "
        f"{max(commands)} database commands (it queues the push, never sends it)"
    )
    return common.summary(
        NAME,
        figure=f"{slowest:.2f}s",
        floor=f"{floor * 1000:.1f}ms",
        ratio=slowest / GOAL_S,
        commands=max(commands),
        goal=f"slowest<={GOAL_S:.0f}s (ratio = figure/goal)",
        passed=slowest <= GOAL_S,
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
