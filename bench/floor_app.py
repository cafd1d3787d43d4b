"""Floors for the benchmarks: bare Flask routes doing, in raw pymongo, only what they must.

`gunicorn bench.floor_app:app` with MONGODB_URI set; the client is made after the fork.
  - `/floor`: one `insert_one` (the bare insert).
  - `/reading`: the reading floor of ../shared/docs/performance.md, the irreducible work of
    one logged reading: an indexed `find_one` (token revocation), a `find_one` by `_id` (the
    agreement), a `find_one_and_update` `$inc` (the patient's sequence number), an
    `insert_one` into a collection with the five indexes of `log_entries` (two unique), and an
    `update_one` `$inc` upsert (the day's rollup).
"""

import os
import uuid
from contextlib import suppress
from datetime import UTC, datetime

from bson import ObjectId
from flask import Flask, request
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import OperationFailure

app = Flask(__name__)
_client: MongoClient | None = None
_indexed = False
# Each client its own patient, as in the app's runs (`X-Bench-Client`, bench.common).
PATIENTS = [ObjectId(f"5f00000000000000000000{n:02x}") for n in range(256)]
_NEWEST = ("occurred_at", DESCENDING)
READING_INDEXES = [
    ([("patient", ASCENDING), ("uid", ASCENDING)], True),
    ([("patient", ASCENDING), ("seq", ASCENDING)], True),
    ([("patient", ASCENDING), ("state", ASCENDING), _NEWEST], False),
    ([("patient", ASCENDING), ("goal_id", ASCENDING), ("state", ASCENDING), _NEWEST], False),
    ([("patient", ASCENDING), ("measure", ASCENDING), ("state", ASCENDING), _NEWEST], False),
]


def _database():
    global _client
    if _client is None:
        _client = MongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    return _client.get_default_database()


@app.post("/floor")
def floor():
    document = dict(request.get_json())
    _database().floor_entries.insert_one(document)
    return {"id": str(document["_id"])}, 201


def _ensure_indexes(database) -> None:
    global _indexed
    if not _indexed:
        # Workers start together: the index another one is creating may already be there.
        with suppress(OperationFailure):
            for keys, unique in READING_INDEXES:
                database.floor_readings.create_index(keys, unique=unique)
            database.floor_revocations.create_index("jti")
        _indexed = True


@app.post("/reading")
def reading():
    request.get_json()
    database = _database()
    _ensure_indexes(database)
    now = datetime.now(UTC)
    patient = PATIENTS[int(request.headers.get("X-Bench-Client", "0")) % len(PATIENTS)]
    database.floor_revocations.find_one({"jti": uuid.uuid4().hex})
    database.floor_agreements.find_one({"_id": patient})
    summary = database.floor_summaries.find_one_and_update(
        {"_id": patient}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    database.floor_readings.insert_one(
        {
            "patient": patient,
            "uid": uuid.uuid4().hex,
            "seq": summary["seq"],
            "state": "live",
            "goal_id": "g_glucose",
            "measure": "blood_glucose",
            "occurred_at": now,
            "value": 120.0,
        }
    )
    database.floor_rollups.update_one(
        {"_id": f"{patient}:{now.date()}"}, {"$inc": {"count": 1, "total": 120.0}}, upsert=True
    )
    return {"seq": summary["seq"]}, 201
