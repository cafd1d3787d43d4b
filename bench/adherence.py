"""GET .../adherence?from=<1 year ago> for 5 goals: a year of logs beside 10 days of logs.

The report reads rollups, never log entries, so a year of 20 logs a day must cost about what
10 days cost (goal: within 1.5x).
"""

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from tests.factories import Factory

NAME = "adherence"
GOAL = 1.5
LOGS_PER_DAY = 20
REPEATS = 25


def _goal(n: int) -> dict:
    return {
        "id": f"g_{n}",
        "kind": "exercise",
        "title": f"Goal {n}",
        "measure": "exercise_minutes",
        "unit": "min",
        "target": {"op": "at_least", "value": 30},
        "period": "week" if n == 4 else "day",
    }


GOALS = [_goal(n) for n in range(5)]


def _patient_with_logs(factory, client, days: int):
    patient = factory.patient(timezone="Europe/Paris")
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider, goals=GOALS)
    headers = factory.headers(patient)
    now = datetime.now(UTC)
    items = [
        {
            "id": str(uuid.uuid4()),
            "agreement_id": str(agreement.pk),
            "goal_id": GOALS[i % 5]["id"],
            "occurred_at": (now - timedelta(days=day, minutes=30 + 50 * i)).isoformat(),
            "value": 10,
        }
        for day in range(days)
        for i in range(LOGS_PER_DAY)
    ]
    for start in range(0, len(items), 500):
        response = client.post(
            "/api/v1/patients/me/logs/batch",
            json={"entries": items[start : start + 500]},
            headers=headers,
        )
        assert response.get_json()["created"] == len(items[start : start + 500])
    return patient, headers


def _time_report(client, headers) -> tuple[float, float, int]:
    first = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    url = f"/api/v1/patients/me/adherence?from={first}"
    client.get(url, headers=headers)
    timings = []
    common.counter.reset()
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    entries_read = common.counter.on("log_entries")
    return statistics.median(timings), common.counter.total / REPEATS, entries_read


def main() -> bool:
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_adherence"))
        with app.app_context():
            factory, client = Factory(app), app.test_client()
            started = time.perf_counter()
            _, small_headers = _patient_with_logs(factory, client, 10)
            large, large_headers = _patient_with_logs(factory, client, 365)
            print(f"  seeded {LOGS_PER_DAY * 375} entries in {time.perf_counter() - started:.1f}s")
            from api.services.tracking import rollups

            common.assert_no_collscan(
                rollups.rollups().find({"patient": large.pk, "quarter": {"$gte": "2000-Q1"}}),
                "rollups of a patient by date",
            )
            floor, _, _ = _time_report(client, small_headers)
            figure, commands, entries_read = _time_report(client, large_headers)
        print(
            f"  10 days: {floor * 1000:.1f} ms   365 days: {figure * 1000:.1f} ms   "
            f"log_entries commands during reports: {entries_read}"
        )
        return common.timing_summary(
            NAME,
            figure_s=figure,
            floor_s=floor,
            commands=commands,
            goal=GOAL,
            ok=entries_read == 0,
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
