"""CGM uploads and metrics, each beside its floor in one run on one database.

1. A day of CGM (288 readings) in one `POST /api/v1/entries` under gunicorn, one client,
   beside `insert_many` of the same 288 readings into a collection with a unique
   (patient, type, date) index (goal >= 0.67x).
2. Single-reading uploads from 8 clients (8 patients, one uploader each) under gunicorn,
   beside the reading floor of ../shared/docs/performance.md (bench.floor_app `/reading`)
   (goal >= 0.67x).
3. `GET .../glucose?days=14` for a patient with a year of CGM beside one with 14 days
   (goal <= 1.5x).
Also: bytes stored per patient-year (data and indexes, goal <= 5 MB), database commands per
upload (one reading, and a day of them), and the query paths checked with explain().
"""

import gzip
import json
import statistics
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import bson
from pymongo import ASCENDING, MongoClient

from api.clock import utcnow
from bench import common
from tests.factories import Factory

NAME = "cgm"
UPLOAD_GOAL = 0.67
READ_GOAL = 1.5
BYTES_GOAL = 5 * 1024 * 1024
CLIENTS = 8
SECONDS = 12
DAY_POSTS = 20
REPEATS = 25
TZ = "America/New_York"
COLLECTIONS = ("glucose_buckets", "glucose_days")


def _uploader(patient):
    from api.services.tracking import uploaders

    made = uploaders.create(patient.pk, "bench", created_by=patient.pk, now=utcnow())
    return {"api-secret": made["api_secret_sha1"]}


def _days_back(days: int, first_back: int) -> list[list[dict]]:
    """Trace days, oldest first, ending `first_back` days before today."""
    from api.services.tracking import cgm_traces

    today = datetime.now(UTC).date()
    start = today - timedelta(days=first_back + days - 1)
    trace = cgm_traces.trace(start, days, tz=TZ, seed=days)
    zone = ZoneInfo(TZ)
    by_day: dict[date, list[dict]] = {}
    for entry in trace:
        day = datetime.fromtimestamp(entry["date"] / 1000, UTC).astimezone(zone).date()
        by_day.setdefault(day, []).append(entry)
    return list(by_day.values())


def _store_days(patient_id, days: list[list[dict]]) -> int:
    from api.services.tracking import glucose

    stored = 0
    for day in days:
        readings = [glucose.Reading("sgv", e["date"], value=float(e["sgv"])) for e in day]
        stored += len(glucose.store(patient_id, readings, tz=TZ).fresh)
    return stored


def _storage(database) -> tuple[int, int, int]:
    """(data bytes, index bytes, BSON bytes of the documents) of the CGM collections."""
    data = index = raw = 0
    for name in COLLECTIONS:
        stats = database.command("collStats", name)
        data += stats["size"]
        index += stats["totalIndexSize"]
        raw += sum(len(bson.encode(doc)) for doc in database[name].find())
    return data, index, raw


def _year_of_storage(app) -> float:
    """Bytes per patient-year, measured on a database holding one patient's year."""
    from api import db

    database = db.database()
    with app.app_context():
        patient = Factory(app).patient(timezone=TZ)
        stored = _store_days(patient.pk, _days_back(365, 1))
    data, index, raw = _storage(database)
    print(
        f"  a year of CGM: {stored} readings, {database.glucose_buckets.count_documents({})} "
        f"hour buckets, {database.glucose_days.count_documents({})} day documents"
    )
    print(
        f"  bytes per patient-year: {data + index:,} (data {data:,}, indexes {index:,}; "
        f"BSON of the documents {raw:,}), {(data + index) / stored:.1f} B/reading"
    )
    return data + index


def _commands_per_upload(client, headers) -> tuple[float, float]:
    """Counted in steady state (the hour's bucket and the day exist), each reading newer
    than the last, as a live sensor sends them."""
    make = _single_reading_maker()
    for _ in range(20):
        client.post("/api/v1/entries", json=make(), headers=headers)
    common.counter.reset()
    uploads = 50
    for _ in range(uploads):
        response = client.post("/api/v1/entries", json=make(), headers=headers)
        assert response.status_code == 200, response.get_json()
    single = common.counter.total / uploads
    print(f"  commands per single-reading upload: {single:.2f}")
    for (command, collection), count in sorted(common.counter.commands.items()):
        print(f"    {command:>20} {collection:<22} {count / uploads:.2f}")
    day = _days_back(1, 2)[0]
    common.counter.reset()
    response = client.post("/api/v1/entries", json=day, headers=headers)
    assert response.status_code == 200
    per_day = common.counter.total
    print(f"  commands per upload of a day ({len(day)} readings in one POST): {per_day}")
    return single, per_day


def _check_indexes(database, patient_id) -> None:
    common.assert_no_collscan(
        database.glucose_buckets.find({"patient": patient_id, "hour": {"$gte": utcnow()}}).sort(
            "hour", -1
        ),
        "entries newest first",
    )
    common.assert_no_collscan(
        database.glucose_days.find({"patient": patient_id, "day": {"$gte": "2026-01-01"}}),
        "the days of a metrics window",
    )
    common.assert_no_collscan(
        database.glucose_uploaders.find({"key_hash": "0" * 64}), "uploader by key"
    )


def _time_get(client, headers, repeats: int = REPEATS) -> tuple[float, float]:
    """(median seconds, database commands) of GET .../glucose?days=14."""
    client.get("/api/v1/patients/me/glucose?days=14", headers=headers)
    common.counter.reset()
    client.get("/api/v1/patients/me/glucose?days=14", headers=headers)
    commands = common.counter.total
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get("/api/v1/patients/me/glucose?days=14", headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(timings), commands


def _day_posts(port: int, headers: dict, days: list[list[dict]]) -> float:
    """Seconds per POST of a day of readings (gzip, as xDrip+ sends a backfill)."""
    import http.client

    timings = []
    for day in days:
        body = gzip.compress(json.dumps(day).encode())
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        connection.request(
            "POST",
            "/api/v1/entries",
            body,
            {**headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        timings.append(time.perf_counter() - started)
        connection.close()
        assert response.status == 200 and len(answer) == len(day), answer
    return statistics.median(timings)


def _insert_many_floor(uri: str, days: list[list[dict]]) -> float:
    client = MongoClient(uri)
    collection = client.get_default_database().floor_cgm
    collection.create_index(
        [("patient", ASCENDING), ("type", ASCENDING), ("date", ASCENDING)], unique=True
    )
    timings = []
    for day in days:
        documents = [{**entry, "patient": "bench"} for entry in day]
        started = time.perf_counter()
        collection.insert_many(documents)
        timings.append(time.perf_counter() - started)
    client.close()
    return statistics.median(timings)


def _single_reading_maker():
    """Bodies of one reading each, as live sensors send them: each client's readings five
    minutes apart (from 20 hours ago, so none is in the future), each newer than the last."""
    own = threading.local()
    start = datetime.now(UTC) - timedelta(hours=20)

    def make(_client: int = 0):
        n = own.n = getattr(own, "n", -1) + 1
        at = start + timedelta(minutes=5 * n, milliseconds=threading.get_ident() % 1000)
        return [{"type": "sgv", "sgv": 90 + n % 150, "date": round(at.timestamp() * 1000)}]

    return make


def main() -> bool:
    with common.embedded_server() as server:
        year_uri = common.database_uri(server, "bench_cgm_year")
        year_app = common.make_app(year_uri)
        with year_app.app_context():
            bytes_per_year = _year_of_storage(year_app)

        uri = common.database_uri(server, "bench_cgm")
        app = common.make_app(uri)
        with app.app_context():
            from api import db

            factory = Factory(app)
            client = app.test_client()
            year, fortnight = factory.patient(timezone=TZ), factory.patient(timezone=TZ)
            _store_days(year.pk, _days_back(365, 0))
            _store_days(fortnight.pk, _days_back(14, 0))
            year_time, get_commands = _time_get(client, factory.headers(year))
            fortnight_time, _ = _time_get(client, factory.headers(fortnight))
            print(
                f"  GET glucose?days=14: a year of CGM {year_time * 1000:.1f} ms, "
                f"14 days {fortnight_time * 1000:.1f} ms, {get_commands} commands"
            )
            uploader_patient = factory.patient(timezone=TZ)
            single, per_day = _commands_per_upload(client, _uploader(uploader_patient))
            _check_indexes(db.database(), year.pk)
            day_patient = factory.patient(timezone=TZ)
            day_headers = _uploader(day_patient)
            load_headers = [_uploader(factory.patient(timezone=TZ)) for _ in range(CLIENTS)]

        days = _days_back(DAY_POSTS, 3)
        with common.gunicorn("wsgi:app", uri) as port:
            post_time = _day_posts(port, day_headers, days)
            figure, statuses = common.load(
                port,
                "/api/v1/entries",
                _single_reading_maker(),
                lambda n: load_headers[n],
                clients=CLIENTS,
                seconds=SECONDS,
            )
        floor_time = _insert_many_floor(uri, days)
        print(
            f"  a day in one POST: {post_time * 1000:.1f} ms; insert_many of the same "
            f"{len(days[0])}: {floor_time * 1000:.1f} ms"
        )
        with common.gunicorn("bench.floor_app:app", uri) as port:
            floor, floor_statuses = common.load(
                port,
                "/reading",
                _single_reading_maker(),
                common.floor_client,
                clients=CLIENTS,
                seconds=SECONDS,
            )
        print(
            f"  single-reading uploads, {CLIENTS} clients: {figure:.0f} req/s {dict(statuses)}; "
            f"reading floor {floor:.0f} req/s {dict(floor_statuses)}"
        )

    day_ratio = floor_time / post_time
    load_ratio = figure / floor
    ok = set(statuses) == {200} and set(floor_statuses) == {201}
    results = [
        common.summary(
            f"{NAME}.day_post",
            figure=f"{post_time * 1000:.1f}ms",
            floor=f"{floor_time * 1000:.1f}ms",
            ratio=day_ratio,
            commands=per_day,
            goal=f">={UPLOAD_GOAL}",
            passed=day_ratio >= UPLOAD_GOAL,
        ),
        common.timing_summary(
            f"{NAME}.metrics",
            figure_s=year_time,
            floor_s=fortnight_time,
            commands=get_commands,
            goal=READ_GOAL,
            ok=True,
        ),
    ]
    print(
        f"  bytes per patient-year: {bytes_per_year / 1e6:.2f} MB (goal <= "
        f"{BYTES_GOAL / 1e6:.2f} MB) {'PASS' if bytes_per_year <= BYTES_GOAL else 'FAIL'}"
    )
    passed = all(results) and bytes_per_year <= BYTES_GOAL and ok
    return common.summary(
        NAME,
        figure=f"{figure:.0f}req/s",
        floor=f"{floor:.0f}req/s",
        ratio=load_ratio,
        commands=single,
        goal=f">={UPLOAD_GOAL}",
        passed=passed and load_ratio >= UPLOAD_GOAL,
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
