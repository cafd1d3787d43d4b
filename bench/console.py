"""The clinician console's pages at scale (goal: within 2x of the small case each):

- triage (`/console/`) for a provider with 2,000 patients beside one with 20 (fixtures as
  in bench/panel.py: raw inserts, then the panel rows the listeners build);
- the patient page for a year of data beside ten days (glucose four times a day and a daily
  walk, inserted in bulk, then rollups and summary rebuilt by the adherence code).

Also printed: database commands per page and the page weight with its stylesheet and script
(goal: at most 300 KB uncompressed).
"""

import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from bench.panel import _seed
from tests.factories import PASSWORD, Factory

NAME = "console"
GOAL = 2.0
MAX_WEIGHT = 300 * 1024
BIG, SMALL = 2000, 20
REPEATS = 15
SECURE = "https://localhost"
ASSETS = ("/console/static/console.css", "/console/static/console.js")
GLUCOSE = {
    "id": "g_glucose",
    "kind": "monitoring",
    "title": "Glucose between 70 and 180",
    "measure": "blood_glucose",
    "unit": "mg/dL",
    "target": {"op": "between", "low": 70, "high": 180},
    "period": "day",
}
WALK = {
    "id": "g_walk",
    "kind": "exercise",
    "title": "Walk 30 minutes",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 30},
    "period": "day",
}


def _signed_in(app, user):
    client = app.test_client()
    response = client.post(
        "/console/login", data={"email": user.email, "password": PASSWORD}, base_url=SECURE
    )
    assert response.status_code == 303, response.status_code
    return client


def _time_page(client, path: str) -> tuple[float, float, int]:
    """(median seconds, database commands per page, bytes of the page) over REPEATS loads."""
    first = client.get(path, base_url=SECURE)
    assert first.status_code == 200, (path, first.status_code)
    timings = []
    common.counter.reset()
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(path, base_url=SECURE)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(timings), common.counter.total / REPEATS, len(first.data)


def _history(database, factory, provider, days: int, rng: random.Random):
    """A patient on `provider`'s team with `days` days of glucose and walks: entries inserted
    in bulk (as bench/panel.py does), then rollups and summary rebuilt by the adherence code."""
    from api.clock import utcnow
    from api.services.care import care_team
    from api.services.common import local_days
    from api.services.tracking import adherence

    patient = factory.patient(timezone="Europe/Paris")
    code = care_team.create_invitation(provider.pk, role="primary", valid_days=7, now=utcnow())
    care_team.join_with_code(patient, code["code"], utcnow())
    agreement = factory.agreement(patient, provider, goals=[dict(GLUCOSE), dict(WALK)])
    now = datetime.now(UTC)
    entries = []
    for day in range(days, 0, -1):
        readings = [
            ("g_glucose", "blood_glucose", float(rng.randint(60, 240)), hour)
            for hour in (7, 12, 18, 22)
        ]
        readings.append(("g_walk", "exercise_minutes", float(rng.randint(10, 60)), 17))
        for goal, measure, value, hour in readings:
            at = now - timedelta(days=day) + timedelta(hours=hour - 12, minutes=rng.randint(0, 59))
            local = local_days.local_date(at, "Europe/Paris")
            entries.append(
                {
                    "patient": patient.pk,
                    "uid": str(uuid.uuid4()),
                    "seq": len(entries) + 1,
                    "state": "live",
                    "agreement": agreement.pk,
                    "goal_id": goal,
                    "measure": measure,
                    "occurred_at": at,
                    "tz": "Europe/Paris",
                    "local_date": local.isoformat(),
                    "period_key": local.isoformat(),
                    "value": value,
                    "in_target": 70 <= value <= 180 if goal == "g_glucose" else None,
                    "source": "app",
                    "created_at": now,
                }
            )
    database.log_entries.insert_many(entries, ordered=False)
    adherence.rebuild(patient.pk, now=now)
    return patient, len(entries)


def _weight(client, page_bytes: int) -> int:
    return page_bytes + sum(len(client.get(a, base_url=SECURE).data) for a in ASSETS)


def main() -> bool:
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_console"))
        with app.app_context():
            from api import db as app_db
            from api.services.clinic import panel

            factory = Factory(app)
            database = app_db.database()
            rng = random.Random(11)
            now = datetime.now(UTC)
            big, small = factory.provider(), factory.provider()
            started = time.perf_counter()
            year, year_entries = _history(database, factory, small, 365, rng)
            days, days_entries = _history(database, factory, small, 10, rng)
            patients = _seed(database, big.pk, BIG, now, rng)
            patients += _seed(database, small.pk, SMALL, now, rng)
            for pid in patients:
                panel.sync_patient(pid, providers=panel.active_providers(pid))
            print(
                f"  seeded {BIG + SMALL} panel patients, a year ({year_entries} entries) and "
                f"ten days ({days_entries}) of history in {time.perf_counter() - started:.1f}s"
            )
            small_client, big_client = _signed_in(app, small), _signed_in(app, big)
            triage_floor, _, _ = _time_page(small_client, "/console/")
            triage, triage_commands, triage_bytes = _time_page(big_client, "/console/")
            patient_floor, _, _ = _time_page(small_client, f"/console/patients/{days.pk}")
            patient, patient_commands, patient_bytes = _time_page(
                small_client, f"/console/patients/{year.pk}"
            )
            weights = {
                "triage": _weight(big_client, triage_bytes),
                "patient": _weight(small_client, patient_bytes),
            }
        triage_ratio, patient_ratio = triage / triage_floor, patient / patient_floor
        print(
            f"  triage: {SMALL} patients {triage_floor * 1000:.1f} ms, {BIG} patients "
            f"{triage * 1000:.1f} ms (x{triage_ratio:.2f}), {triage_commands:.0f} commands/page, "
            f"{weights['triage'] / 1024:.0f} KB with assets"
        )
        print(
            f"  patient page: ten days {patient_floor * 1000:.1f} ms, a year "
            f"{patient * 1000:.1f} ms (x{patient_ratio:.2f}), {patient_commands:.0f} "
            f"commands/page, {weights['patient'] / 1024:.0f} KB with assets"
        )
        heaviest = max(weights.values())
        return common.summary(
            NAME,
            figure=f"triage={triage * 1000:.1f}ms,patient={patient * 1000:.1f}ms",
            floor=f"triage={triage_floor * 1000:.1f}ms,patient={patient_floor * 1000:.1f}ms",
            ratio=max(triage_ratio, patient_ratio),
            commands=max(triage_commands, patient_commands),
            goal=f"<={GOAL},weight<={MAX_WEIGHT // 1024}KB(max {heaviest / 1024:.0f}KB)",
            passed=triage_ratio <= GOAL and patient_ratio <= GOAL and heaviest <= MAX_WEIGHT,
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
