"""First page of GET /panel: a provider with 2,000 patients, each with a year of logs, beside
a provider with 20 (goal: within 2x).

Fixtures go in with raw pymongo bulk inserts: patients, memberships, a year of weekly log
entries per patient, and each patient's summary in the shape the adherence code writes. The
panel rows are then built by `panel.sync_patient`, the call the membership and log listeners
make. The panel must read neither log entries nor one document per patient.
"""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from bench import common
from tests.factories import Factory

NAME = "panel"
GOAL = 2.0
BIG, SMALL = 2000, 20
LOG_WEEKS = 52
INSERT_BATCH = 2_000
REPEATS = 25
URL = "/api/v1/panel?page_size=20"


def _seed(
    db, provider_id, count: int, now: datetime, rng: random.Random, log_weeks: int = LOG_WEEKS
) -> list[ObjectId]:
    patients = [ObjectId() for _ in range(count)]
    db.users.insert_many(
        {
            "_id": pid,
            "name": f"Patient {n}",
            "role": "patient",
            "timezone": "Europe/Paris",
            "reminder_time": "08:00",
            "created_at": now,
            "updated_at": now,
        }
        for n, pid in enumerate(patients)
    )
    db.care_team_members.insert_many(
        {
            "patient": pid,
            "provider": provider_id,
            "role": "primary",
            "status": "active",
            "open": True,
            "activated_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for pid in patients
    )
    entries, summaries = [], []
    for pid in patients:
        last = None
        for week in range(log_weeks):
            at = now - timedelta(weeks=week, hours=rng.randint(1, 100))
            last = max(last or at, at)
            entries.append(
                {
                    "patient": pid,
                    "uid": str(ObjectId()),
                    "seq": week + 1,
                    "state": "live",
                    "goal_id": "g_walk",
                    "measure": "exercise_minutes",
                    "occurred_at": at,
                    "tz": "Europe/Paris",
                    "local_date": at.date().isoformat(),
                    "value": float(rng.randint(0, 60)),
                    "source": "app",
                }
            )
        met_7, met_30 = rng.randint(0, 7), rng.randint(0, 30)
        percent_7 = round(100.0 * met_7 / 7, 1)
        summaries.append(
            {
                "_id": pid,
                "seq": log_weeks,
                "tz": "Europe/Paris",
                "last_logged_at": last,
                "goals": {"g_walk": {"last_at": last}},
                "days_7d": 7,
                "met_7d": met_7,
                "adherence_7d": percent_7,
                "days_30d": 30,
                "met_30d": met_30,
                "adherence_30d": round(100.0 * met_30 / 30, 1),
                "flags": {
                    "low_adherence": percent_7 < 50,
                    "no_recent_logs": now - last > timedelta(days=3),
                    "out_of_range": False,
                    "overdue_checkup": rng.random() < 0.2,
                },
                "next_checkup_due_on": (now + timedelta(days=rng.randint(-30, 90)))
                .date()
                .isoformat(),
                "computed_on": now.date().isoformat(),
                "updated_at": now,
            }
        )
    # Slices a loaded machine writes well within the client's socket timeout.
    for start in range(0, len(entries), INSERT_BATCH):
        db.log_entries.insert_many(entries[start : start + INSERT_BATCH], ordered=False)
    db.adherence_summaries.insert_many(summaries)
    return patients


def _time_panel(client, headers) -> tuple[float, float, int]:
    client.get(URL, headers=headers)
    timings = []
    common.counter.reset()
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(URL, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and len(response.get_json()) == 20
    per_patient_reads = common.counter.on("log_entries") + common.counter.on("adherence_rollups")
    return statistics.median(timings), common.counter.total / REPEATS, per_patient_reads


def main() -> bool:
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_panel"))
        with app.app_context():
            from api import db as app_db
            from api.services.clinic import panel

            factory, client = Factory(app), app.test_client()
            database = app_db.database()
            rng = random.Random(7)
            now = datetime.now(UTC)
            big, small = factory.provider(), factory.provider()
            started = time.perf_counter()
            patients = _seed(database, big.pk, BIG, now, rng)
            patients += _seed(database, small.pk, SMALL, now, rng)
            for pid in patients:
                panel.sync_patient(pid, providers=panel.active_providers(pid))
            print(
                f"  seeded {BIG + SMALL} patients, {(BIG + SMALL) * LOG_WEEKS} log entries "
                f"and the panel rows in {time.perf_counter() - started:.1f}s"
            )
            prefix = f"{big.pk}:all:"
            common.assert_no_collscan(
                panel.rows()
                .find({"adherence_7d": {"$gte": f"{prefix}0000|", "$lt": f"{prefix}0100|~"}})
                .sort("adherence_7d", 1),
                "panel rows of one provider by a key range",
            )
            common.assert_no_collscan(
                panel.counts().find({"_id": f"{prefix}adherence_7d"}), "panel bucket counts"
            )
            floor, _, _ = _time_panel(client, factory.headers(small))
            figure, commands, raw_reads = _time_panel(client, factory.headers(big))
        print(
            f"  {SMALL} patients: {floor * 1000:.1f} ms   {BIG} patients: {figure * 1000:.1f} ms"
            f"   log entry / rollup commands during panels: {raw_reads}"
        )
        return common.timing_summary(
            NAME, figure_s=figure, floor_s=floor, commands=commands, goal=GOAL, ok=raw_reads == 0
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
