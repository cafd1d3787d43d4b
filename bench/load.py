"""Load and soak: 50 users for 60 s against gunicorn (several workers) on the embedded server.

The mix is what a morning looks like: patients log readings (single entries and small
offline batches, each with its own client UUID) and sync their other devices with the
`?since` cursor; providers read their panel and a patient's adherence. A patient whose
request fails retries it with the same ids, as the app does.

Afterwards every acknowledged entry (201, 200 replay, or "created"/"duplicate" in a batch)
is looked up by its client id: it must be stored exactly once; nothing acknowledged lost.

`python -m bench.load [--seconds N] [--users N] [--workers N] [--chaos]`; with `--chaos`,
bench/chaos.py kills and restarts the API's workers, the jobs worker and the database meanwhile.
"""

import argparse
import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench import common
from tests.factories import Factory

NAME = "load"
PATIENTS = 40
PROVIDERS = 4
GOALS = common.WALK_AND_GLUCOSE_GOALS
# What a user does next, by weight: mostly logging and syncing.
PATIENT_MIX = (("log", 5), ("batch", 1), ("sync", 4))
PROVIDER_MIX = (("panel", 3), ("adherence", 2))
RETRIES = 3


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.acknowledged: dict[str, set[str]] = {}  # patient id → client ids
        # (finished, status, Retry-After, what the user did)
        self.events: list[tuple[float, int, bool, str]] = []

    def record(self, kind: str, status: int, seconds: float, retry_after: bool = False) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            self.statuses[status] += 1
            self.events.append((time.monotonic(), status, retry_after, kind))
            if status >= 400:
                self.errors[f"{kind}:{status}"] += 1

    def acknowledge(self, patient: str, ids) -> None:
        with self.lock:
            self.acknowledged.setdefault(patient, set()).update(ids)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class User:
    """One simulated user on one keep-alive connection."""

    def __init__(self, port: int, headers: dict, stats: Stats):
        self.port = port
        self.headers = {**headers, "Content-Type": "application/json"}
        self.stats = stats
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, kind: str, method: str, path: str, body=None):
        started = time.perf_counter()
        try:
            self.connection.request(
                method, path, json.dumps(body) if body is not None else None, self.headers
            )
            response = self.connection.getresponse()
            data = response.read()
            status = response.status
            retry_after = (response.getheader("Retry-After") or "").isdigit()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            data, status, retry_after = b"", 599, False
        self.stats.record(kind, status, time.perf_counter() - started, retry_after)
        return status, (json.loads(data) if data and status < 500 else None)


class Patient(User):
    def __init__(self, port, headers, stats, patient_id: str, agreement_id: str):
        super().__init__(port, headers, stats)
        self.patient_id = patient_id
        self.agreement_id = agreement_id
        self.cursor = "0"

    def _entry(self) -> dict:
        goal = random.choice(GOALS)
        walk = goal["id"] == "g_walk"
        return {
            "id": str(uuid.uuid4()),
            "agreement_id": self.agreement_id,
            "goal_id": goal["id"],
            "occurred_at": (
                datetime.now(UTC) - timedelta(minutes=random.randint(1, 4000))
            ).isoformat(),
            "value": random.randint(5, 40) if walk else random.randint(60, 220),
        }

    def log(self) -> None:
        body = self._entry()
        for _ in range(RETRIES):
            status, _ = self.call("log", "POST", "/api/v1/patients/me/logs", body)
            if status in (200, 201):
                self.stats.acknowledge(self.patient_id, [body["id"]])
                return
            if status < 500:
                return

    def batch(self) -> None:
        body = {"entries": [self._entry() for _ in range(random.randint(2, 8))]}
        for _ in range(RETRIES):
            status, answer = self.call("batch", "POST", "/api/v1/patients/me/logs/batch", body)
            if status == 200:
                ids = [
                    r["id"] for r in answer["results"] if r["status"] in ("created", "duplicate")
                ]
                self.stats.acknowledge(self.patient_id, ids)
                return
            if status < 500:
                return

    def sync(self) -> None:
        status, answer = self.call(
            "sync", "GET", f"/api/v1/patients/me/logs?since={self.cursor}&limit=200"
        )
        if status == 200:
            self.cursor = answer["next_cursor"]


class Provider(User):
    def __init__(self, port, headers, stats, patient_ids: list[str]):
        super().__init__(port, headers, stats)
        self.patient_ids = patient_ids

    def panel(self) -> None:
        self.call("panel", "GET", "/api/v1/panel?page_size=25")

    def adherence(self) -> None:
        pid = random.choice(self.patient_ids)
        self.call("adherence", "GET", f"/api/v1/patients/{pid}/adherence")


def _choose(mix):
    names, weights = zip(*mix, strict=True)
    return random.choices(names, weights)[0]


def _seed(app, patients: int = PATIENTS) -> tuple[list[dict], list[dict]]:
    """`patients` patients with an active agreement, shared among PROVIDERS providers of
    one clinic (so every patient moves that clinic's population aggregates)."""
    with app.app_context():
        factory = Factory(app)
        providers = [factory.provider() for _ in range(PROVIDERS)]
        specs, cared_for = [], {p.pk: [] for p in providers}
        for index in range(patients):
            patient = factory.patient(timezone=random.choice(["UTC", "America/New_York"]))
            provider = providers[index % PROVIDERS]
            factory.membership(patient, provider)
            agreement = factory.agreement(patient, provider, goals=GOALS)
            specs.append(
                {
                    "headers": factory.headers(patient),
                    "patient_id": str(patient.pk),
                    "agreement_id": str(agreement.pk),
                    "provider_headers": factory.headers(provider),
                }
            )
            cared_for[provider.pk].append(str(patient.pk))
        # Last: placing a provider in a clinic brings in the patients of their care teams.
        _one_clinic(app.test_client(), factory, providers)
        return specs, [
            {"headers": factory.headers(p), "patient_ids": cared_for[p.pk]} for p in providers
        ]


def _one_clinic(client, factory, providers) -> None:
    admin = factory.headers(factory.admin())
    created = client.post("/api/v1/admin/clinics", json={"name": "Load clinic"}, headers=admin)
    assert created.status_code == 201, created.get_json()
    for provider in providers:
        added = client.post(
            f"/api/v1/admin/clinics/{created.get_json()['id']}/providers",
            json={"provider_id": str(provider.pk)},
            headers=admin,
        )
        assert added.status_code in (200, 201), added.get_json()


class HotDocuments:
    """Counts the updates each shared document receives (a change stream on the clinic's
    population aggregates and the panels' bucket counts) while the users work."""

    COLLECTIONS = ("population_aggregates", "panel_counts")

    def __init__(self, uri: str):
        from pymongo import MongoClient

        self.client = MongoClient(uri)
        self.updates: Counter = Counter()
        self.stop = threading.Event()
        self.stream = self.client.get_default_database().watch(
            [{"$match": {"ns.coll": {"$in": list(self.COLLECTIONS)}}}], max_await_time_ms=200
        )
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        with self.stream:
            while not self.stop.is_set():
                change = self.stream.try_next()
                if change is not None:
                    self.updates[(change["ns"]["coll"], str(change["documentKey"]["_id"]))] += 1

    def hottest(self) -> tuple[str, int]:
        self.stop.set()
        self.thread.join()
        self.client.close()
        if not self.updates:
            return "none", 0
        (collection, _id), n = self.updates.most_common(1)[0]
        kind = "*" if _id.endswith(":*") else "condition" if ":" in _id else "provider"
        return f"{collection}[{kind}]", n


def _run(port, patients, providers, *, users: int, seconds: float, stats: Stats) -> float:
    stop = time.monotonic() + seconds
    provider_users = max(1, users // 5)

    def patient_loop(spec):
        user = Patient(port, spec["headers"], stats, spec["patient_id"], spec["agreement_id"])
        while time.monotonic() < stop:
            getattr(user, _choose(PATIENT_MIX))()

    def provider_loop(spec):
        user = Provider(port, spec["headers"], stats, spec["patient_ids"])
        while time.monotonic() < stop:
            getattr(user, _choose(PROVIDER_MIX))()

    threads = [
        threading.Thread(target=patient_loop, args=(patients[i % len(patients)],))
        for i in range(users - provider_users)
    ] + [
        threading.Thread(target=provider_loop, args=(providers[i % len(providers)],))
        for i in range(provider_users)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def _reconcile(uri: str, acknowledged: dict[str, set[str]]) -> tuple[int, int, int]:
    """(acknowledged, lost, duplicated): each acknowledged client id stored exactly once."""
    from bson import ObjectId
    from pymongo import MongoClient

    client = MongoClient(uri)
    entries = client.get_default_database().log_entries
    total = lost = duplicated = 0
    for patient, ids in acknowledged.items():
        ids = list(ids)
        total += len(ids)
        stored = Counter()
        for start in range(0, len(ids), 1000):
            for doc in entries.find(
                {"patient": ObjectId(patient), "uid": {"$in": ids[start : start + 1000]}},
                {"uid": 1},
            ):
                stored[doc["uid"]] += 1
        lost += sum(1 for uid in ids if stored[uid] == 0)
        duplicated += sum(n - 1 for n in stored.values() if n > 1)
    client.close()
    return total, lost, duplicated


def main(argv=None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--chaos", action="store_true", help="kill and restart parts of the system meanwhile"
    )
    args = parser.parse_args(argv if argv is not None else [])
    if args.chaos:
        from bench import chaos, load

        return chaos.run(args, load)["passed"]
    stats = Stats()
    with common.embedded_server() as server:
        uri = common.database_uri(server, "bench_load")
        patients, providers = _seed(common.make_app(uri))
        print(f"  seeded {len(patients)} patients and {len(providers)} providers", flush=True)
        with common.gunicorn("wsgi:app", uri, workers=args.workers) as port:
            hot = HotDocuments(uri)
            elapsed = _run(
                port, patients, providers, users=args.users, seconds=args.seconds, stats=stats
            )
            hottest, hottest_updates = hot.hottest()
        acknowledged, lost, duplicated = _reconcile(uri, stats.acknowledged)
    everything = [s for values in stats.latencies.values() for s in values]
    requests = len(everything)
    rps = requests / elapsed
    for kind, values in sorted(stats.latencies.items()):
        print(
            f"  {kind:>9}: {len(values):6d} requests  p50={percentile(values, 0.5) * 1000:6.1f}ms"
            f"  p95={percentile(values, 0.95) * 1000:6.1f}ms"
            f"  p99={percentile(values, 0.99) * 1000:6.1f}ms"
        )
    errors = sum(stats.errors.values())
    print(f"  statuses: {dict(stats.statuses)}  errors: {dict(stats.errors)}")
    print(f"  acknowledged entries: {acknowledged}, lost {lost}, duplicated {duplicated}")
    print(
        f"  hottest shared document: {hottest} received {hottest_updates} $inc updates in "
        f"{elapsed:.0f} s = {hottest_updates / elapsed:.2f}/s, "
        f"{hottest_updates / max(acknowledged, 1):.3f} per acknowledged entry "
        f"({len(patients)} patients of one clinic)"
    )
    passed = errors == 0 and lost == 0 and duplicated == 0 and acknowledged > 0
    p50, p95, p99 = (percentile(everything, q) * 1000 for q in (0.5, 0.95, 0.99))
    print(
        f"{NAME}: figure={rps:.0f}req/s users={args.users} workers={args.workers} "
        f"seconds={elapsed:.0f} requests={requests} p50={p50:.0f}ms p95={p95:.0f}ms "
        f"p99={p99:.0f}ms errors={errors} acknowledged={acknowledged} lost={lost} "
        f"duplicated={duplicated} goal=errors=0,lost=0,duplicated=0 "
        f"{'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return passed


if __name__ == "__main__":
    import sys

    raise SystemExit(0 if main(sys.argv[1:]) else 1)
