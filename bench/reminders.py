"""One dispatch tick with 10,000 of 100,000 patients due, beside the irreducible work.

Floor (same run, same database): read those 10,000 due occurrences and `insert_many` 10,000
inbox documents into a collection with the inbox's indexes. Goal: the tick within 1.5x the
floor, and an idle tick (nothing due) costing the same at 10k and 100k patients (within 1.5x).
Fixtures are bulk-inserted with raw pymongo; the tick runs the real code
(patients without devices: no outbox entries).
"""

import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from bench import common

NAME = "reminders"
GOAL = 1.5
SMALL, LARGE, DUE = 10_000, 100_000, 10_000
BATCH = 2_000  # small enough that no insert nears the socket timeout
IDLE_REPEATS = 50
DUE_AT = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
GOAL_DOC = {
    "id": "g_walk",
    "kind": "exercise",
    "title": "Walk 30 minutes",
    "measure": "exercise_minutes",
    "unit": "min",
    "target": {"op": "at_least", "value": 30.0},
    "period": "day",
    "reminder_times": ["08:00"],
}


def _add_patients(db, count: int, due_now: int) -> None:
    """`count` patients, each with an active agreement and one planned goal reminder:
    `due_now` of them due at DUE_AT, the others spread over the following two hours."""
    from api.services.reminders.planning import open_slices

    created = datetime(2024, 1, 1, tzinfo=UTC)
    minutes = set()
    for start in range(0, count, BATCH):
        users, agreements, occurrences = [], [], []
        for n in range(start, min(start + BATCH, count)):
            patient, agreement = ObjectId(), ObjectId()
            due = DUE_AT if n < due_now else DUE_AT + timedelta(minutes=1 + n % 120)
            minutes.add(due)
            users.append(
                {
                    "_id": patient,
                    "name": f"Patient {n}",
                    "role": "patient",
                    "timezone": "UTC",
                    "reminder_time": "08:00",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            agreements.append(
                {
                    "_id": agreement,
                    "patient": patient,
                    "author": patient,
                    "status": "active",
                    "version": 1,
                    "content": {"title": "Plan", "goals": [GOAL_DOC], "checkups": []},
                    "created_at": created,
                    "updated_at": created,
                }
            )
            occurrences.append(
                {
                    "patient": patient,
                    "key": f"goal:g_walk:{due.date().isoformat()}T{due:%H:%M}",
                    "kind": "goal_reminder",
                    "agreement": agreement,
                    "goal_id": "g_walk",
                    "goal_period": "day",
                    "local_date": datetime(due.year, due.month, due.day),
                    "due_at": due,
                    "title": GOAL_DOC["title"],
                    "body": "A reminder from your care plan. Log it when it's done.",
                    "timezone": "UTC",
                    "patient_name": f"Patient {n}",
                    "has_devices": False,
                    "status": "pending",
                    "planned_at": created,
                }
            )
        db.users.insert_many(users, ordered=False)
        db.agreements.insert_many(agreements, ordered=False)
        db.reminder_occurrences.insert_many(occurrences, ordered=False)
    open_slices(minutes)


def _idle_tick_seconds() -> float:
    from api.services.reminders import dispatch

    times = []
    for _ in range(IDLE_REPEATS):
        started = time.perf_counter()
        counts = dispatch.tick(DUE_AT - timedelta(minutes=1), worker="bench")
        times.append(time.perf_counter() - started)
        assert counts == {}, counts
    # The fastest run is the cost of the work itself (timeit's advice); the rest is noise.
    return min(times)


def _floor_seconds(db) -> float:
    """Read the due occurrences; insert one inbox document each (inbox indexes included)."""
    from api.services.reminders import dispatch

    floor = db.floor_notifications
    for index in db.notifications.list_indexes():
        if index["name"] != "_id_":
            options = {
                k: index[k] for k in ("unique", "sparse", "partialFilterExpression") if k in index
            }
            floor.create_index(list(index["key"].items()), **options)
    started = time.perf_counter()
    due = list(
        db.reminder_occurrences.find(
            {"status": "pending", "due_at": {"$gte": DUE_AT, "$lt": DUE_AT + timedelta(minutes=1)}}
        )
    )
    docs = [
        {
            "patient": o["patient"],
            "key": o["key"],
            "kind": o["kind"],
            "title": GOAL_DOC["title"],
            "body": "A reminder from your care plan. Log it when it's done.",
            "created_at": DUE_AT,
            "occurrence": o["_id"],
        }
        for o in due
    ]
    for start in range(0, len(docs), dispatch.CHUNK):  # the tick's batch size
        floor.insert_many(docs[start : start + dispatch.CHUNK], ordered=False)
    elapsed = time.perf_counter() - started
    assert len(due) == DUE, len(due)
    return elapsed


def _check_indexes(db) -> None:
    minute = {"$gte": DUE_AT, "$lt": DUE_AT + timedelta(minutes=1)}
    common.assert_no_collscan(
        db.reminder_slices.find({"open": True, "lease_until": {"$lte": DUE_AT}}).sort(
            [("open", 1), ("lease_until", 1)]
        ),
        "claiming a due slice",
    )
    common.assert_no_collscan(
        db.reminder_occurrences.find({"status": "pending", "due_at": minute}),
        "reading a slice's occurrences",
    )
    some = [u["_id"] for u in db.users.find({}, {"_id": 1}).limit(20)]
    common.assert_no_collscan(
        db.devices.find({"patient": {"$in": some}}), "loading the patients' devices"
    )
    common.assert_no_collscan(
        db.agreements.find({"status": "revoked", "ended_at": {"$gte": DUE_AT}}, {"_id": 1}),
        "agreements ended lately",
    )
    common.assert_no_collscan(
        db.adherence_rollups.find({"_id": {"$in": ["x"]}}, {"met": 1}), "goals met today"
    )


def main() -> bool:
    from api import db as database
    from api.models.agreement import Agreement
    from api.models.log import Rollup
    from api.models.notification import Device, Notification
    from api.models.reminder import Occurrence, ReminderSlice
    from api.services.reminders import dispatch

    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_reminders"))
        with app.app_context():
            db = database.database()
            for model in (Occurrence, ReminderSlice, Notification, Device, Rollup, Agreement):
                model._get_collection()  # creates the declared indexes

            print(f"  fixtures: {SMALL:,} patients")
            _add_patients(db, SMALL, due_now=0)
            idle_small = _idle_tick_seconds()
            print(f"  fixtures: {LARGE:,} patients, {DUE:,} due at {DUE_AT:%H:%M} UTC")
            db.reminder_occurrences.delete_many({})
            db.users.delete_many({})
            db.agreements.delete_many({})
            db.reminder_slices.delete_many({})
            _add_patients(db, LARGE, due_now=DUE)
            idle_large = _idle_tick_seconds()
            _check_indexes(db)

            floor = _floor_seconds(db)
            common.counter.reset()
            started = time.perf_counter()
            counts = dispatch.tick(DUE_AT, worker="bench")
            figure = time.perf_counter() - started
            commands = common.counter.total
            assert counts == {"delivered": DUE, "slices": 1}, counts
            assert db.notifications.count_documents({}) == DUE
            assert db.outbox.count_documents({}) == 0  # no devices: no outbox writes

    ratio = figure / floor
    idle_ratio = idle_large / idle_small
    print(
        f"  tick {figure:.2f}s vs floor {floor:.2f}s; idle tick {idle_small * 1000:.2f} ms at "
        f"{SMALL:,} patients, {idle_large * 1000:.2f} ms at {LARGE:,} (x{idle_ratio:.2f}); "
        f"{commands} database commands for the tick of {DUE:,} reminders (the op below)"
    )
    return common.summary(
        NAME,
        figure=f"{figure:.2f}s",
        floor=f"{floor:.2f}s",
        ratio=ratio,
        commands=commands,
        goal=f"<={GOAL}x floor, idle 100k/10k <={GOAL}x (idle x{idle_ratio:.2f})",
        passed=ratio <= GOAL and idle_ratio <= GOAL,
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
