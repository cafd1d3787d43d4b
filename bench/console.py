"""The clinician console's pages at scale (goal: within 2x of the small case each):

- triage (`/console/`) for a provider with 2,000 patients beside one with 20 (fixtures as
  in bench/panel.py: raw inserts, then the panel rows and search terms the flows build),
  and the same page searched by name and filtered by a condition, finding as many patients
  in both panels;
- the patient page for a year of data beside ten days (glucose four times a day and a daily
  walk, inserted in bulk, then rollups and summary rebuilt as `flask rebuild-adherence`
  does).

The search queries are checked with `explain()` (no collection scan).

Also printed: database commands per page and the page weight with its stylesheet and script
(goal: at most 300 KB uncompressed).
"""

import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from bench import common
from bench.panel import _seed
from tests.factories import PASSWORD, Factory

NAME = "console"
GOAL = 2.0
MAX_WEIGHT = 300 * 1024
BIG, SMALL = 2000, 20
REPEATS = 15
# The triage page reads no log entry: a month of weekly logs each keeps the seeding short.
LOG_WEEKS = 4
SEARCHED = 10
# (name, path, text the page must show): each for 2,000 patients beside 20.
TRIAGE_PAGES = (
    ("triage", "/console/", None),
    ("search", "/console/?q=angs", "Zoë Ångström"),
    ("condition", "/console/?condition=heart+failure", f"{SEARCHED} patients"),
)
SECURE = "https://localhost"
ASSETS = ("/console/static/console.css", "/console/static/console.js")


def _signed_in(app, user):
    client = app.test_client()
    response = client.post(
        "/console/login", data={"email": user.email, "password": PASSWORD}, base_url=SECURE
    )
    assert response.status_code == 303, response.status_code
    return client


def _load(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path, base_url=SECURE)
    took = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code)
    return took


def _compare(floor_client, floor_path: str, client, path: str, expect: str | None = None):
    """(median seconds of the floor's page, of the page, database commands per page, bytes
    of the page): the two pages loaded in turn REPEATS times, so a load on the machine
    weighs on both alike."""
    first = client.get(path, base_url=SECURE)
    assert first.status_code == 200, (path, first.status_code)
    assert expect is None or expect in first.text, (path, expect)
    floor_client.get(floor_path, base_url=SECURE)
    floors, figures, commands = [], [], 0
    for _ in range(REPEATS):
        floors.append(_load(floor_client, floor_path))
        common.counter.reset()
        figures.append(_load(client, path))
        commands += common.counter.total
    return (
        statistics.median(floors),
        statistics.median(figures),
        commands / REPEATS,
        len(first.data),
    )


def _history(database, factory, provider, days: int, rng: random.Random):
    """A patient on `provider`'s team with `days` days of glucose and walks: entries inserted
    in bulk (as bench/panel.py does), then rollups and summary rebuilt as
    `flask rebuild-adherence` does."""
    from api.services.common import local_days
    from api.services.flows import days as day_flows

    patient = factory.patient(timezone="Europe/Paris")
    factory.membership(patient, provider)
    goals = [dict(goal) for goal in common.WALK_AND_GLUCOSE_GOALS]
    agreement = factory.agreement(patient, provider, goals=goals)
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
    day_flows.rebuild_patient(patient.pk, now=now)
    return patient, len(entries)


def _weight(client, page_bytes: int) -> int:
    return page_bytes + sum(len(client.get(a, base_url=SECURE).data) for a in ASSETS)


def _searchable(database, patients: list, rng: random.Random) -> None:
    """Every panel patient has type 2 diabetes in an active agreement but SEARCHED of each
    panel, who have heart failure; one of each panel is Zoë Ångström: a search finds as many
    patients in a panel of 2,000 as in one of 20."""
    chosen = set(rng.sample(patients, SEARCHED))
    database.agreements.insert_many(
        {
            "patient": pid,
            "status": "active",
            "content": {"conditions": ["heart failure" if pid in chosen else "type 2 diabetes"]},
        }
        for pid in patients
    )
    database.users.update_one({"_id": patients[0]}, {"$set": {"name": "Zoë Ångström"}})


def _seed_panels(database, big, small, now, rng) -> list:
    from api.services.clinic import panel, panel_search

    patients = []
    for provider, count in ((big, BIG), (small, SMALL)):
        mine = _seed(database, provider.pk, count, now, rng, log_weeks=LOG_WEEKS)
        _searchable(database, mine, rng)
        patients += mine
    for pid in patients:
        providers = panel.active_providers(pid)
        panel.sync_patient(pid, providers=providers)
        panel_search.refresh(pid, providers=providers)
    return patients


def _assert_indexed(big) -> None:
    from api.services.clinic import panel, panel_search

    for what, query in (
        ("search by a name's prefix", panel_search.find_query(big.pk, name="angs")),
        ("search by condition", panel_search.find_query(big.pk, condition="heart failure")),
    ):
        common.assert_no_collscan(panel_search.terms().find(query), what)
    common.assert_no_collscan(
        panel.rows().find({"_id": {"$in": [f"{big.pk}:all:{ObjectId()}"]}}),
        "the found patients' panel rows",
    )


def main() -> bool:
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_console"))
        with app.app_context():
            from api import db as app_db

            factory = Factory(app)
            database = app_db.database()
            rng = random.Random(11)
            now = datetime.now(UTC)
            big, small = factory.provider(), factory.provider()
            started = time.perf_counter()
            year, year_entries = _history(database, factory, small, 365, rng)
            days, days_entries = _history(database, factory, small, 10, rng)
            _seed_panels(database, big, small, now, rng)
            print(
                f"  seeded {BIG + SMALL} panel patients, a year ({year_entries} entries) and "
                f"ten days ({days_entries}) of history in {time.perf_counter() - started:.1f}s"
            )
            _assert_indexed(big)
            small_client, big_client = _signed_in(app, small), _signed_in(app, big)
            pages, results = {}, {}
            for name, path, expect in TRIAGE_PAGES:
                results[name] = _compare(small_client, path, big_client, path, expect)
                pages[name] = path
            results["patient"] = _compare(
                small_client,
                f"/console/patients/{days.pk}",
                small_client,
                f"/console/patients/{year.pk}",
            )
            weights = {
                "triage": _weight(big_client, results["triage"][3]),
                "patient": _weight(small_client, results["patient"][3]),
            }
        ratios = {name: figure / floor for name, (floor, figure, _c, _b) in results.items()}
        for name, (floor, figure, commands, _bytes) in results.items():
            small_case = "ten days" if name == "patient" else f"{SMALL} patients"
            big_case = "a year" if name == "patient" else f"{BIG} patients"
            print(
                f"  {name}: {small_case} {floor * 1000:.1f} ms, {big_case} {figure * 1000:.1f} ms "
                f"(x{ratios[name]:.2f}), {commands:.0f} commands/page"
            )
        print(
            f"  page weight with assets: triage {weights['triage'] / 1024:.0f} KB, "
            f"patient {weights['patient'] / 1024:.0f} KB"
        )
        heaviest = max(weights.values())
        return common.summary(
            NAME,
            figure=",".join(f"{n}={r[1] * 1000:.1f}ms" for n, r in results.items()),
            floor=",".join(f"{n}={r[0] * 1000:.1f}ms" for n, r in results.items()),
            ratio=max(ratios.values()),
            commands=max(r[2] for r in results.values()),
            goal=f"<={GOAL},weight<={MAX_WEIGHT // 1024}KB(max {heaviest / 1024:.0f}KB)",
            passed=max(ratios.values()) <= GOAL and heaviest <= MAX_WEIGHT,
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
