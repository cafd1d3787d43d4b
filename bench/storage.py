"""Bytes per patient-year, by collection: data and indexes from `collStats`.

One patient of a clinic with the diabetes plan (walk and glucose goals, the template's alert
rules, two walk reminders a day, a phone) logs 20 entries a day for a year through the batch
upload (the app's own write path: entries, rollups, summary, panel, population, alerts).
Reminders are planned, dispatched and each day closed for REMINDER_DAYS simulated days, and
a CGM (288 readings a day) uploads CGM_DAYS days through the Nightscout flow; both are scaled
to a year (marked `x365/N`): a year of them would take hours on this machine.

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
GOAL_MB = 5.0  # performance.md's budget for a CGM patient-year
REMINDER_TIMES = ["08:00", "18:00"]
CGM_DAYS = 14
# Shared by every patient, not per patient (docs/scaling.md section 3): one slice per minute
# with work, one aggregate per clinic and condition.
SHARED = {"reminder_slices", "population_aggregates", "population_snapshots", "panel_counts"}
ONCE_PER_PATIENT = {"glucose_uploaders", "population_profiles", "adherence_summaries"}
MB = 1024 * 1024


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
    from api.services.reminders import dispatch, planning
    from jobs import nightly

    day0 = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(REMINDER_DAYS):
        midnight = day0 + timedelta(days=day)
        planning.plan_all(midnight)
        for at in REMINDER_TIMES:
            hour, minute = map(int, at.split(":"))
            due = midnight.replace(hour=hour, minute=minute)
            dispatch.tick(due, worker="bench")
        nightly.close_days(midnight + timedelta(days=1, minutes=30))


def _wear_a_cgm(p, now: datetime) -> None:
    """CGM_DAYS of a Dexcom-like trace (288 readings a day), uploaded a day per POST through
    the Nightscout upload flow, as the demo's phones do."""
    from api.demo.cgm import _upload
    from api.services.tracking import cgm_traces, uploaders

    started = now - timedelta(days=CGM_DAYS + 1)
    uploader = uploaders.create(p.patient.pk, "bench", created_by=p.patient.pk, now=started)
    trace = cgm_traces.trace((now - timedelta(days=CGM_DAYS)).date(), CGM_DAYS, seed=21)
    _upload(p.patient, uploader, trace, now=now)


def _grown(before, after, scale: float) -> dict[str, tuple[float, float, float]]:
    """collection → (documents, data bytes, index bytes) added, times `scale` (once-per-
    patient collections are not scaled; shared ones are left out)."""
    grown = {}
    for name, (docs, data, index) in after.items():
        docs0, data0, index0 = before.get(name, (0, 0, 0))
        if name in SHARED or (docs, data, index) == (docs0, data0, index0):
            continue
        times = 1 if name in ONCE_PER_PATIENT else scale
        grown[name] = ((docs - docs0) * times, (data - data0) * times, (index - index0) * times)
    return grown


def _print(title: str, grown: dict, marks: dict) -> tuple[float, float]:
    print(f"  {title}")
    print(f"    {'collection':<24}{'docs':>10}{'data KB':>10}{'index KB':>10}")
    for name, (docs, data, index) in sorted(grown.items(), key=lambda kv: -sum(kv[1][1:])):
        print(
            f"    {name:<24}{docs:>10.0f}{data / 1024:>10.1f}{index / 1024:>10.1f}"
            f"  {marks.get(name, 'measured')}"
        )
    data = sum(g[1] for g in grown.values())
    index = sum(g[2] for g in grown.values())
    print(
        f"    total: data {data / MB:.2f} MB + indexes {index / MB:.2f} MB "
        f"= {(data + index) / MB:.2f} MB per patient-year"
    )
    return data, index


def main() -> bool:
    random.seed(21)
    with common.embedded_server() as server:
        uri = common.database_uri(server, "bench_storage")
        app = common.make_app(uri)
        client = app.test_client()
        with app.app_context():
            from api import db

            now = datetime.now(UTC)
            p = _patient(app, client, now)
            database = db.database()
            start = _stats(database)
            _log_a_year(client, p, now)
            logged = _stats(database)
            _remind_for_days(p, now)
            reminded = _stats(database)
            _wear_a_cgm(p, now)
            worn = _stats(database)
    year = _grown(start, logged, 1)
    logged_names = set(year)
    days = _grown(logged, reminded, DAYS / REMINDER_DAYS)
    for name, (docs, data, index) in days.items():
        was = year.get(name, (0, 0, 0))
        year[name] = (was[0] + docs, was[1] + data, was[2] + index)
    marks = {
        name: ("year + " if name in logged_names else "")
        + f"{REMINDER_DAYS} days x{DAYS}/{REMINDER_DAYS}"
        for name in days
    }
    data, index = _print(
        f"one patient-year: {DAYS * LOGS_PER_DAY} entries, {len(REMINDER_TIMES)} reminders a day",
        year,
        marks,
    )
    cgm = _grown(reminded, worn, DAYS / CGM_DAYS)
    cgm_data, cgm_index = _print(
        f"a CGM worn all year (288 readings a day), x{DAYS}/{CGM_DAYS}",
        cgm,
        {name: "once" if name in ONCE_PER_PATIENT else f"x{DAYS}/{CGM_DAYS}" for name in cgm},
    )
    total_mb = (data + index) / MB
    cgm_mb = (cgm_data + cgm_index) / MB
    passed = cgm_mb <= GOAL_MB
    print(
        f"{NAME}: figure={total_mb:.2f}MB/patient-year cgm={cgm_mb:.2f}MB/patient-year "
        f"with_cgm={total_mb + cgm_mb:.2f}MB entries={DAYS * LOGS_PER_DAY} "
        f"goal=cgm<={GOAL_MB:.0f}MB {'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return passed


def _patient(app, client, now: datetime):
    """The diabetes plan, in a clinic, with the template's alert rules and a phone."""
    from api.services.alerts import rules as alert_rules

    factory = Factory(app)
    goals = [dict(g) for g in common.WALK_AND_GLUCOSE_GOALS]
    goals[0]["reminder_times"] = REMINDER_TIMES
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
    return p


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
