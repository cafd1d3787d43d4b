"""The floor for bench.ingest: a bare Flask route doing one pymongo insert_one.

`gunicorn bench.floor_app:app` with MONGODB_URI set; the client is made after the fork.
"""

import os

from flask import Flask, request
from pymongo import MongoClient

app = Flask(__name__)
_client: MongoClient | None = None


def _collection():
    global _client
    if _client is None:
        _client = MongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    return _client.get_default_database().floor_entries


@app.post("/floor")
def floor():
    document = dict(request.get_json())
    _collection().insert_one(document)
    return {"id": str(document["_id"])}, 201
