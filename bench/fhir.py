"""FHIR Observation search: `Observation?patient=…&_sort=-date&_count=100`, read by a provider
on the team, for a patient with a year of data beside one with ten days (the floor).

The first page must cost about what it costs for ten days, and the last page, reached by
following the `next` links, about what the first costs (goal: within 1.5x each): a page is
read through time windows on the entries' index and `total` from the rollups, so neither
grows with the history behind the page. Prints commands per page and checks the query paths
with explain() (no collection scan).
"""

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from tests.factories import Factory

NAME = "fhir"
GOAL = 1.5
LOGS_PER_DAY = 20
PAGE = 100
REPEATS = 15
GOALS = common.WALK_AND_GLUCOSE_GOALS


def _patient_with_logs(factory, client, days: int):
    patient = factory.patient(timezone="Europe/Paris")
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider, goals=GOALS)
    now = datetime.now(UTC)
    agreement.update(set__active_since=now - timedelta(days=days + 1))
    items = [
        {
            "id": str(uuid.uuid4()),
            "agreement_id": str(agreement.pk),
            "goal_id": GOALS[i % 2]["id"],
            "occurred_at": (now - timedelta(days=day, minutes=30 + 70 * i)).isoformat(),
            "value": 30 if i % 2 == 0 else 120,
        }
        for day in range(days)
        for i in range(LOGS_PER_DAY)
    ]
    headers = factory.headers(patient)
    for start in range(0, len(items), 500):
        response = client.post(
            "/api/v1/patients/me/logs/batch",
            json={"entries": items[start : start + 500]},
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()
    return patient, factory.headers(provider), len(items)


def _time(client, url: str, headers: dict) -> tuple[float, float, dict]:
    """Median time of GET url, commands per call, and the body."""
    body = client.get(url, headers=headers).get_json()
    timings = []
    common.counter.reset()
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)
    return statistics.median(timings), common.counter.total / REPEATS, body


def _next(bundle: dict) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def _check_plans(patient) -> None:
    from api.models.agreement import Agreement
    from api.models.care_team import CareTeamMember
    from api.models.log import LIVE
    from api.services.records.fhir_observations import FIRST_WINDOW
    from api.services.tracking import logs, rollups

    now = datetime.now(UTC)
    window = {"$gte": now - FIRST_WINDOW, "$lt": now}
    query = {"patient": patient.pk, "state": LIVE, "occurred_at": window}
    order = [("occurred_at", -1), ("_id", -1)]
    common.assert_no_collscan(logs.entries().find(query).sort(order), "an Observation window")
    by_code = {**query, "measure": "blood_glucose"}
    common.assert_no_collscan(logs.entries().find(by_code).sort(order), "a window by code")
    counted = {**by_code, "occurred_at": {"$gte": now - timedelta(days=30)}}
    common.assert_no_collscan(logs.entries().find(counted), "a total by code and date")
    common.assert_no_collscan(
        rollups.rollups().find({"patient": patient.pk}, {"p": 1}), "the total from rollups"
    )
    read = logs.entries().find({"_id": logs.entries().find_one(query)["_id"]})
    common.assert_no_collscan(read, "an Observation read")
    members = CareTeamMember.objects(patient=patient.pk, status="active")
    common.assert_no_collscan(members._cursor, "a clinic client's access check")
    agreements = Agreement.objects(patient=patient.pk).only("active_since")
    common.assert_no_collscan(agreements._cursor, "the bounds of the walk")


def main() -> bool:
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_fhir"))
        with app.app_context():
            factory, client = Factory(app), app.test_client()
            started = time.perf_counter()
            small, small_headers, small_count = _patient_with_logs(factory, client, 10)
            large, large_headers, large_count = _patient_with_logs(factory, client, 365)
            seconds = time.perf_counter() - started
            print(f"  seeded {small_count + large_count} entries in {seconds:.1f}s")
            _check_plans(large)

            def first_url(patient) -> str:
                return f"/fhir/R4/Observation?patient={patient.pk}&_sort=-date&_count={PAGE}"

            floor, floor_commands, _ = _time(client, first_url(small), small_headers)
            first, first_commands, bundle = _time(client, first_url(large), large_headers)
            assert bundle["total"] == large_count, bundle["total"]
            pages, url, seen = 1, _next(bundle), len(bundle["entry"])
            last_url = None
            while url:
                last_url = url
                page = client.get(url, headers=large_headers).get_json()
                seen += len(page["entry"])
                pages += 1
                url = _next(page)
            assert seen == large_count, (seen, large_count)
            last, last_commands, _ = _time(client, last_url, large_headers)
        print(
            f"  first page, 10 days: {floor * 1000:.1f} ms ({floor_commands:.1f} commands)   "
            f"365 days: {first * 1000:.1f} ms ({first_commands:.1f} commands)"
        )
        print(
            f"  last page of {pages}, reached by next links: {last * 1000:.1f} ms "
            f"({last_commands:.1f} commands); ratio to the year's first page "
            f"{last / first:.2f} (goal <= {GOAL})"
        )
        return common.timing_summary(
            NAME,
            figure_s=max(first, last),
            floor_s=floor,
            commands=max(first_commands, last_commands),
            goal=GOAL,
            ok=last / first <= GOAL,
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
