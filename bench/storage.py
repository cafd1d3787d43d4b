"""Bytes per patient-year, by collection: data and indexes from `collStats`.

One patient of a clinic with the diabetes plan (walk and glucose goals, the template's alert
rules, two walk reminders a day, a phone) logs 20 entries a day for a year through the batch
upload (the app's own write path: entries, rollups, summary, panel, population, alerts).
Reminders are planned, dispatched and each day closed for REMINDER_DAYS simulated days and
scaled to a year (marked `x365/N`): a year of one-minute ticks would take hours here.

The figures are the embedded server's BSON sizes (uncompressed) and its own index-size
estimates; WiredTiger compresses both on disk (docs/scaling.md).
"""

import random
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from tests.factories import Factory
from tests.log_helpers import plan

NAME = "storage"
LOGS_PER_DAY = 20
GLUCOSE_PER_DAY = 12
DAYS = 365
REMINDER_DAYS = 7
BATCH = 500
GOAL_MB = 5.0  # performance.md's budget for a CGM patient-year; the same budget here
REMINDER_TIMES = ["08:00", "18:00"]


def _stats(database) -> dict[str, tuple[int, int, int]]:
    """collection → (documents, data bytes, index bytes)."""
    found = {}
    for name in database.list_collection_names():
        stats = database.command("collStats", name)
        found[name] = (stats["count"], stats["size"], stats["totalIndexSize"])
    return found


def _year_of_entries(p, now: datetime) -> list[dict]:
    entries = []
    for day in range(DAYS, 0, -1):
        start = now - timedelta(days=day)
        for i in range(LOGS_PER_DAY):
            glucose = i < GLUCOSE_PER_DAY
            entries.append(
                {
                    "id": str(uuid.uuid4()),
                    "agreement_id": p.aid,
                    "goal_id": "g_glucose" if glucose else "g_walk",
                    "occurred_at": (start + timedelta(minutes=40 * i + 7)).isoformat(),
                    "value": random.randint(60, 260) if glucose else random.randint(5, 20),
                }
            )
    return entries


def _log_a_year(client, p, now: datetime) -> None:
    entries = _year_of_entries(p, now)
    for start in range(0, len(entries), BATCH):
        response = client.post(
            "/api/v1/patients/me/logs/batch",
            json={"entries": entries[start : start + BATCH]},
            headers=p.headers,
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["created"] == len(entries[start : start + BATCH])


def _remind_for_days(p, now: datetime) -> None:
    """Plan, dispatch (inbox and outbox) and close REMINDER_DAYS days still to come."""
    from api.services.notify.push import LogChannel
    from api.services.reminders import dispatch, planning
    from jobs import nightly

    day0 = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(REMINDER_DAYS):
        midnight = day0 + timedelta(days=day)
        planning.plan_all(midnight)
        for at in REMINDER_TIMES:
            hour, minute = map(int, at.split(":"))
            due = midnight.replace(hour=hour, minute=minute)
            dispatch.tick(due, worker="bench", channel=LogChannel())
        nightly.close_days(midnight + timedelta(days=1, minutes=30))


def _per_collection(before, after, extrapolated: set[str]):
    rows = []
    for name in sorted(after):
        docs0, data0, index0 = before.get(name, (0, 0, 0))
        docs, data, index = after[name]
        scale = DAYS / REMINDER_DAYS if name in extrapolated else 1
        row = (name, (docs - docs0) * scale, (data - data0) * scale, (index - index0) * scale)
        if row[1] or row[2]:
            rows.append((*row, name in extrapolated))
    return rows


def main() -> bool:
    random.seed(21)
    with common.embedded_server() as server:
        uri = common.database_uri(server, "bench_storage")
        app = common.make_app(uri)
        client = app.test_client()
        with app.app_context():
            from api import db
            from api.services.alerts import rules as alert_rules

            factory = Factory(app)
            now = datetime.now(UTC)
            goals = [dict(g, reminder_times=REMINDER_TIMES) for g in common.WALK_AND_GLUCOSE_GOALS]
            goals[1].pop("reminder_times")
            p = plan(factory, goals=goals, active_since=now - timedelta(days=DAYS + 2))
            admin = factory.headers(factory.admin())
            clinic = client.post("/api/v1/admin/clinics", json={"name": "Year"}, headers=admin)
            client.post(
                f"/api/v1/admin/clinics/{clinic.get_json()['id']}/providers",
                json={"provider_id": str(p.provider.pk)},
                headers=admin,
            )
            alert_rules.create_defaults(p.patient.pk, "t2-diabetes", now=now)
            client.post(
                "/api/v1/patients/me/devices",
                json={"platform": "android", "token": "year-phone"},
                headers=p.headers,
            )
            database = db.database()
            before = _stats(database)
            _log_a_year(client, p, now)
            after_year = _stats(database)
            _remind_for_days(p, now)
            after = _stats(database)
    reminded = {n for n in after if after[n] != after_year.get(n, (0, 0, 0))}
    rows = _per_collection(before, after_year, set())
    rows = [r for r in rows if r[0] not in reminded]
    rows += _per_collection(after_year, after, reminded)
    rows.sort(key=lambda r: -(r[2] + r[3]))
    print(f"  {'collection':<24}{'docs':>10}{'data KB':>10}{'index KB':>10}")
    for name, docs, data, index, scaled in rows:
        mark = f"  x{DAYS}/{REMINDER_DAYS}" if scaled else ""
        print(f"  {name:<24}{docs:>10.0f}{data / 1024:>10.1f}{index / 1024:>10.1f}{mark}")
    data = sum(r[2] for r in rows)
    index = sum(r[3] for r in rows)
    total_mb = (data + index) / 1024 / 1024
    print(
        f"  per patient-year: data {data / 1024 / 1024:.2f} MB + indexes "
        f"{index / 1024 / 1024:.2f} MB = {total_mb:.2f} MB "
        f"({DAYS * LOGS_PER_DAY} entries; reminders scaled from {REMINDER_DAYS} days)"
    )
    passed = total_mb <= GOAL_MB
    print(
        f"{NAME}: figure={total_mb:.2f}MB/patient-year data={data / 1024 / 1024:.2f}MB "
        f"indexes={index / 1024 / 1024:.2f}MB entries={DAYS * LOGS_PER_DAY} "
        f"goal<={GOAL_MB:.0f}MB {'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return passed


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
