"""Faults under load: `python -m bench.load --chaos [--seconds 60] [--users 50]`.

The system runs as deployed, each part its own process: the embedded database on a storage
directory, the API under gunicorn, the jobs worker, and a loopback push webhook. While the
users of `bench.load` work, at fixed fractions of the run:
  - one gunicorn worker is killed with SIGKILL (its master starts another);
  - the jobs worker is killed with SIGKILL and started again;
  - the database is stopped and started again on the same port and data path.
Afterwards (a final `python -m jobs --once` drains what the killed worker left):
  - every acknowledged entry is stored exactly once;
  - every reminder and alert notification reached each of its addressee's devices once
    (a resend after a crash carries the same Idempotency-Key, so a phone shows it once:
    those are counted apart);
  - no answer was a 5xx other than a 503 with Retry-After while the database was away (a
    connection cut by the killed worker is counted apart: the client retries it);
  - the system was back to normal within RECOVERY_S of the database's return: its first
    fully successful second of requests (none a 5xx) began by then, and no 503 came after.
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from bench import common
from devserver.embedded import EmbeddedMongo, free_port

NAME = "chaos"
RECOVERY_S = 10.0
METRICS_TOKEN = "chaos-bench-metrics-token-0123456789abcdef"  # noqa: S105 - a bench-only token
WEBHOOK_SECRET = "chaos-bench-webhook-secret"  # noqa: S105 - a bench-only secret
# When each fault strikes, as a fraction of the run.
KILL_API_WORKER_AT, KILL_JOBS_AT, STOP_DB_AT = 0.15, 0.3, 0.5
CONNECTION_CUT = 599  # what bench.load records when the connection itself failed


class Webhook:
    """The push provider: records each (Idempotency-Key, device token) it is sent."""

    def __init__(self):
        self.received: Counter = Counter()
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received[(self.headers["Idempotency-Key"], body["token"])] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Fleet:
    """The deployed processes, each started, killed and restarted the way an operator would."""

    root: Path
    workers: int
    webhook_url: str
    database: EmbeddedMongo = field(init=False)
    api: subprocess.Popen | None = None
    jobs: subprocess.Popen | None = None
    port: int = 0
    db_down: tuple[float, float] | None = None  # monotonic (stopped, answering again)

    def __post_init__(self):
        (self.root / "metrics").mkdir(parents=True)
        self.database = EmbeddedMongo(
            storage_path=str(self.root / "db"), log_path=str(self.root / "db.log")
        )

    @property
    def uri(self) -> str:
        return common.database_uri(self.database, "bench_chaos")

    def env(self, **extra) -> dict:
        return {
            **os.environ,
            "MONGODB_URI": self.uri,
            "CAREPACT_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(self.root / "metrics"),
            "METRICS_TOKEN": METRICS_TOKEN,
            "PUSH_CHANNEL": "webhook",
            "PUSH_WEBHOOK_URL": self.webhook_url,
            "PUSH_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **extra,
        }

    def start_api(self) -> int:
        self.port = free_port()
        log = open(self.root / "api.log", "ab")  # noqa: SIM115 - closed with the process
        self.api = common.start_gunicorn("wsgi:app", self.port, self.env(), self.workers, log)
        return self.port

    def start_jobs(self) -> None:
        # Test-length intervals, so the worker's minute jobs run within the run.
        env = self.env(CAREPACT_ENV="test", JOBS_TEST_INTERVAL_S="2")
        log = open(self.root / "jobs.log", "ab")  # noqa: SIM115 - closed with the process
        self.jobs = subprocess.Popen(
            [sys.executable, "-m", "jobs"], cwd=common.ROOT, env=env, stdout=log, stderr=log
        )

    def drain_jobs(self) -> int:
        """What a cron-style `python -m jobs --once` leaves: its exit code. The jobs that
        failed are printed with the exception's last line."""
        done = subprocess.run(
            [sys.executable, "-m", "jobs", "--once"],
            cwd=common.ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for line in done.stderr.splitlines():
            if '"job failed"' in line:
                failed = json.loads(line)
                last = (failed.get("exc") or "").strip().splitlines()[-1:] or [""]
                print(f"  the final --once: {failed.get('job')} failed: {last[0][:200]}")
        return done.returncode

    def kill_api_worker(self) -> int:
        victim = _children(self.api.pid)[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_and_restart_jobs(self) -> None:
        self.jobs.send_signal(signal.SIGKILL)
        self.jobs.wait()
        self.start_jobs()

    def restart_database(self, down_s: float) -> None:
        stopped = time.monotonic()
        self.database.stop()
        time.sleep(down_s)
        self.database.start()
        self.db_down = (stopped, time.monotonic())

    def expire_leases(self) -> int:
        """Outbox entries still pending: held by the killed worker's lease (5 minutes) or
        backing off after the outage. Their time is brought forward (the killed worker is
        gone, so nobody else holds them), as if the bench had waited that long."""
        client = MongoClient(self.uri)
        moved = client.get_default_database().outbox.update_many(
            {"state": "pending"}, {"$set": {"due_at": datetime.now(UTC)}}
        )
        client.close()
        return moved.modified_count

    def unexpected_errors(self) -> Counter:
        """The API's error lines other than the expected "database unavailable", by their
        message and the exception's last line (gunicorn's own lines as they are)."""
        found: Counter = Counter()
        for line in (self.root / "api.log").read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "error" in line.lower() or "exception" in line.lower():
                    found[line[:200]] += 1
                continue
            if entry.get("level") in ("ERROR", "CRITICAL") and (
                entry.get("msg") != "database unavailable"
            ):
                last = (entry.get("exc") or "").strip().splitlines()[-1:] or [""]
                found[f"{entry.get('msg')}: {last[0][:200]}"] += 1
        return found

    def stop(self) -> None:
        self.stop_processes()
        self.database.stop()

    def stop_processes(self) -> None:
        for process in (self.jobs, self.api):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def _seed_reminders_and_alerts(app, patients: list[dict], reminded: int, now: datetime) -> None:
    """A glucose alert rule and a phone for every logging patient; `reminded` more patients
    with a walk reminder due this minute and a phone each."""
    from api.services.reminders import planning
    from tests.factories import Factory

    client = app.test_client()
    with app.app_context():
        factory = Factory(app)
        provider = factory.provider()
        for index in range(reminded):
            patient = factory.patient(timezone="UTC")
            walk = {
                "id": "g_walk",
                "kind": "exercise",
                "title": "Walk",
                "measure": "exercise_minutes",
                "unit": "min",
                "target": {"op": "at_least", "value": 30},
                "period": "day",
                "reminder_times": [now.strftime("%H:%M")],
            }
            factory.agreement(patient, provider, goals=[walk])
            _phone(client, factory.headers(patient), f"reminder-phone-{index}")
        planning.plan_all(now.replace(second=0, microsecond=0) - timedelta(minutes=1))
        for index, spec in enumerate(patients):
            _phone(client, spec["headers"], f"patient-phone-{index}")
            rule = {
                "measure": "blood_glucose",
                "kind": "threshold",
                "op": "above",
                "value": 150,
                "unit": "mg/dL",
                "severity": "urgent",
                "notify": ["primary", "patient"],
            }
            created = client.post(
                f"/api/v1/patients/{spec['patient_id']}/alert-rules",
                json=rule,
                headers=spec["provider_headers"],
            )
            assert created.status_code == 201, created.get_json()


def _phone(client, headers: dict, token: str) -> None:
    response = client.post(
        "/api/v1/patients/me/devices", json={"platform": "android", "token": token}, headers=headers
    )
    assert response.status_code == 201, response.get_json()


def _notifications_reconciled(uri: str, received: Counter) -> tuple[int, int, int]:
    """(expected deliveries, missing, resent with the same key) over every notification."""
    client = MongoClient(uri)
    database = client.get_default_database()
    tokens: dict[ObjectId, list[str]] = {}
    for device in database.devices.find({}, {"patient": 1, "token": 1}):
        tokens.setdefault(device["patient"], []).append(device["token"])
    expected = set()
    for note in database.notifications.find({}, {"patient": 1, "recipient": 1, "key": 1}):
        addressee = note.get("recipient") or note["patient"]
        expected |= {(note["key"], token) for token in tokens.get(addressee, [])}
    client.close()
    missing = sum(1 for pair in expected if received[pair] == 0)
    resent = sum(n - 1 for pair, n in received.items() if n > 1)
    return len(expected), missing, resent


def _scrape(port: int) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = connection.getresponse().read().decode()
    totals: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(
                f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()) if k == "source"
            )
            totals[key] += sample.value
    return totals


@dataclass
class Verdict:
    bad_5xx: list[str]  # a 500, or a 503 without Retry-After: never acceptable
    busy_503: list[str]  # a 503 with Retry-After while the database was there
    unavailable: int
    cut: int
    recovery_s: float  # from the database's return to its first fully successful second
    last_failure_s: float  # from the database's return to the last 5xx after it (0: none)

    @property
    def passed(self) -> bool:
        return not self.bad_5xx and not self.busy_503 and self.recovery_s <= RECOVERY_S


def _failed(status: int) -> bool:
    return 500 <= status < CONNECTION_CUT


def _recovered_at(events, back: float) -> float:
    """The start of the first fully successful second after the database answered its ping
    again (`back`): one second, beginning at `back` or just after a 5xx, in which requests
    finished and none with a 5xx. The end of the run when there is none."""
    after = sorted((finished, status) for finished, status, *_ in events if finished >= back)
    failures = [finished for finished, status in after if _failed(status)]
    for start in [back, *failures]:
        window = [status for finished, status in after if start < finished <= start + 1.0]
        if window and not any(_failed(status) for status in window):
            return start
    return after[-1][0] if after else back


def _judge(events, db_down: tuple[float, float], began: float) -> Verdict:
    """events: (finished, status, retry_after, kind) for every request. A 503 with
    Retry-After is expected from the database's stop until the system is back to normal
    (`_recovered_at`); after that it counts as "busy", against PASS."""
    stopped, back = db_down
    recovered = _recovered_at(events, back)
    bad, busy, unavailable, cut = [], [], 0, 0
    last_failure = back
    for finished, status, retry_after, kind in events:
        if status == CONNECTION_CUT:
            cut += 1
        elif status >= 500:
            away = stopped <= finished <= recovered
            if status == 503 and retry_after and away:
                unavailable += 1
            elif status == 503 and retry_after:
                busy.append(f"{kind} at {finished - began:.1f}s")
            else:
                after = "" if retry_after else " without Retry-After"
                bad.append(f"{kind} {status}{after} at {finished - began:.1f}s")
            if finished > back:
                last_failure = max(last_failure, finished)
    return Verdict(bad, busy, unavailable, cut, recovered - back, last_failure - back)


def run(args, load) -> dict:
    """`load` is bench.load: its users, seeding and reconciliation. Returns the figures."""
    stats = load.Stats()
    webhook = Webhook()
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="carepact-chaos-")), args.workers, webhook.url)
    faults: dict[str, float] = {}
    try:
        fleet.database.start()
        app = common.make_app(fleet.uri)
        patients, providers = load._seed(app, getattr(args, "patients", load.PATIENTS))
        reminded = max(2, len(patients) // 4)
        _seed_reminders_and_alerts(app, patients, reminded, datetime.now(UTC))
        print(f"  seeded {len(patients)} patients, {reminded} more with reminders", flush=True)
        port = fleet.start_api()
        fleet.start_jobs()
        began = time.monotonic()

        def at(fraction: float) -> None:
            time.sleep(max(0.0, began + fraction * args.seconds - time.monotonic()))

        def strike() -> None:
            at(KILL_API_WORKER_AT)
            faults["api_worker_killed"] = time.monotonic() - began
            fleet.kill_api_worker()
            at(KILL_JOBS_AT)
            faults["jobs_worker_killed"] = time.monotonic() - began
            fleet.kill_and_restart_jobs()
            at(STOP_DB_AT)
            faults["database_stopped"] = time.monotonic() - began
            fleet.restart_database(down_s=min(3.0, args.seconds / 8))
            faults["database_back"] = fleet.db_down[1] - began

        # The faults strike from this thread: a server started from a thread that then ends
        # would get its parent-death signal (devserver/embedded.py).
        timing = {}
        users = threading.Thread(
            target=lambda: timing.setdefault(
                "elapsed",
                load._run(
                    port, patients, providers, users=args.users, seconds=args.seconds, stats=stats
                ),
            )
        )
        users.start()
        strike()
        users.join()
        elapsed = timing["elapsed"]
        drained = fleet.drain_jobs()
        held = fleet.expire_leases()
        # A run may queue what the next one sends (a reminder coming due while it runs): go
        # on until no push is left pending, as a worker left running would, a few times at most.
        pending = held
        for _ in range(3):
            if not pending:
                break
            drained = max(drained, fleet.drain_jobs())
            pending = fleet.expire_leases()
        metrics = _scrape(port)
        fleet.stop_processes()
        unexpected = fleet.unexpected_errors()
        acknowledged, lost, duplicated = load._reconcile(fleet.uri, stats.acknowledged)
        expected, missing, resent = _notifications_reconciled(fleet.uri, webhook.received)
    finally:
        fleet.stop()
        webhook.close()
        shutil.rmtree(fleet.root, ignore_errors=True)
    verdict = _judge(stats.events, fleet.db_down, began)
    requests = len(stats.events)
    print(f"  faults at (s): { {k: round(v, 1) for k, v in faults.items()} }")
    print(f"  statuses: {dict(stats.statuses)}")
    print(
        f"  5xx: 503 with Retry-After while the database was away {verdict.unavailable}, "
        f"503 with Retry-After while it was there {len(verdict.busy_503)} {verdict.busy_503}, "
        f"other {len(verdict.bad_5xx)} {verdict.bad_5xx}; "
        f"connections cut by the killed worker {verdict.cut} (retried)"
    )
    print(
        f"  back to normal (first fully successful second) {verdict.recovery_s:.1f}s after the "
        f"database answered its ping again; last 5xx after its return at "
        f"+{verdict.last_failure_s:.1f}s (goal <= {RECOVERY_S:.0f}s)"
    )
    if unexpected:
        print(f"  the API's error lines (the SIGKILL is ours): {dict(unexpected)}")
    print(f"  acknowledged entries: {acknowledged}, lost {lost}, duplicated {duplicated}")
    print(
        f"  notifications x devices: {expected}, missing {missing}, "
        f"resent with the same Idempotency-Key {resent}; pending when the run ended (leased by "
        f"the killed worker or backing off, then brought forward) {held}; "
        f"final --once exit {drained}"
    )
    print(
        "  metrics after the run: "
        + ", ".join(
            f"{name}={metrics.get(name, 0):.0f}"
            for name in (
                "carepact_http_requests_total",
                "carepact_db_unavailable_total{source=request}",
                "carepact_db_command_errors_total",
                "carepact_job_runs_total",
                "carepact_job_failures_total",
                "carepact_pushes_total",
                "carepact_alerts_opened_total",
            )
        )
    )
    figures = {
        "faults": faults,
        "requests": requests,
        "unavailable_503": verdict.unavailable,
        "other_5xx": len(verdict.bad_5xx),
        "busy_503": len(verdict.busy_503),
        "held_by_leases": held,
        "cut": verdict.cut,
        "recovery_s": verdict.recovery_s,
        "last_failure_s": verdict.last_failure_s,
        "acknowledged": acknowledged,
        "lost": lost,
        "duplicated": duplicated,
        "notified": expected,
        "missing": missing,
        "resent": resent,
        "drain_exit": drained,
        "metrics": metrics,
    }
    passed = (
        verdict.passed
        and lost == 0
        and duplicated == 0
        and acknowledged > 0
        and expected > 0
        and missing == 0
    )
    print(
        f"{NAME}: figure={requests / elapsed:.0f}req/s users={args.users} "
        f"seconds={elapsed:.0f} recovery={verdict.recovery_s:.1f}s "
        f"last_5xx_after_return={verdict.last_failure_s:.1f}s "
        f"unavailable_503={verdict.unavailable} busy_503={len(verdict.busy_503)} "
        f"other_5xx={len(verdict.bad_5xx)} "
        f"cut={verdict.cut} "
        f"acknowledged={acknowledged} lost={lost} duplicated={duplicated} "
        f"notified={expected} missing={missing} resent={resent} "
        f"goal=other_5xx=0,busy_503=0,lost=0,duplicated=0,missing=0,recovery<={RECOVERY_S:.0f}s "
        f"load_average={os.getloadavg()[0]:.1f} "
        f"{'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return {**figures, "passed": passed}
