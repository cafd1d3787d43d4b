"""`flask --app wsgi init`: bring a database to what this release expects, idempotently.

1. every index every model declares;
2. the built-in data (the starter education library; agreement templates ship in code);
3. the data migrations not yet applied, in order, each recorded in the `schema_version`
   document once it has run (so a crash part-way re-runs only what is left, and each
   migration is safe to run twice).

The API (`wsgi.py`) and the worker (`python -m jobs`) refuse to start on a database whose
recorded version is behind `LATEST`: run `init` first, as `make run` and the deploy steps do.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import mongoengine as me
from bson import ObjectId
from mongoengine.base.common import _document_registry

import api.models  # noqa: F401  (registers every document class)
from api.db import database, find_in
from api.models.log import AdherenceSummary, Rollup
from api.models.notification import Notification
from api.models.panel import PanelRow
from api.models.schema import AppliedMigration, SchemaVersion
from api.models.user import User
from api.schemas import shipped
from api.services.care import education
from api.services.clinic import panel_search
from api.services.flows import days
from api.services.notify import outbox
from api.services.tracking import rollups


class MigrationsBehind(RuntimeError):
    """The database needs `flask --app wsgi init` before this release may use it."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    run: Callable[[datetime], str]


def refile_rollups(now: datetime) -> str:
    """Rollups stored one per (patient, goal, day), or a month per document, before they were
    filed a quarter per document: the reports read none of them (no adherence shown). Drop
    them, rebuild from the entries, and keep the nightly close-out's `closed` marks."""
    collection = database()[Rollup._meta["collection"]]  # no index build on a fresh database
    old = list(collection.find({"quarter": {"$exists": False}}))
    if not old:
        return "no rollups in an earlier layout"
    closed = [doc for doc in old if doc.get("closed") and doc.get("start")]
    collection.delete_many({"_id": {"$in": [doc["_id"] for doc in old]}})
    for index in collection.list_indexes():
        if index["name"] != "_id_" and "quarter" not in index["key"] and "patient" in index["key"]:
            collection.drop_index(index["name"])  # the old layouts' (patient, start, ...) ones
    Rollup.ensure_indexes()
    patients = {doc["patient"] for doc in old}
    entries = sum(days.rebuild_patient(patient, now=now) for patient in sorted(patients))
    for doc in closed:
        day = date.fromisoformat(doc["start"])
        ref, key = rollups.period_ref(doc["patient"], doc["goal_id"], doc["period"], day)
        collection.update_one(
            {"_id": ref},
            {
                "$set": {f"p.{key}.closed": True},
                "$setOnInsert": {
                    "patient": doc["patient"],
                    "goal_id": doc["goal_id"],
                    "period": doc["period"],
                    "quarter": ref.rsplit(":", 1)[1],
                    "rev": 0,
                },
            },
            upsert=True,
        )
    return (
        f"refiled {len(old)} rollups of {len(patients)} patients from {entries} entries "
        f"({len(closed)} closed periods kept)"
    )


def pushes_to_outbox(now: datetime) -> str:
    """Notifications of the release before the outbox kept their push state (`push`,
    `push_error`, `push_after`): a push still pending becomes an outbox entry (due when its
    quiet hours end), and the fields and their index go."""
    name = Notification._meta["collection"]
    if name not in database().list_collection_names():
        # A fresh deployment: nothing to move, and an update would create the collection on
        # the embedded server (MongoDB leaves it absent).
        return "no notifications yet"
    collection = database()[name]
    pending = list(collection.find({"push": "pending"}))
    names = {
        user["_id"]: user.get("name")
        for user in find_in(
            database()[User._meta["collection"]], "_id", {n["patient"] for n in pending}
        )
    }
    queued = 0
    for notification in pending:
        to = outbox.addressee(notification)
        queued += outbox.enqueue_pushes(
            [notification],
            names={to: names.get(notification["patient"])},
            now=now,
            defer={to: notification["push_after"]} if notification.get("push_after") else None,
        )
    fields = {"push": "", "push_error": "", "push_after": ""}
    cleared = collection.update_many(
        {"$or": [{name: {"$exists": True}} for name in fields]}, {"$unset": fields}
    ).modified_count
    for index in collection.list_indexes():
        if "push_after" in index["key"]:
            collection.drop_index(index["name"])
    return f"{queued} pending pushes queued, push state cleared from {cleared} notifications"


def panel_search_terms(now: datetime) -> str:
    """The console searches panels by name and condition through `panel_terms`: write them
    for every patient on a panel (the flows keep them from then on)."""
    name = PanelRow._meta["collection"]
    if name not in database().list_collection_names():
        return "no panels yet"  # a fresh deployment: reading would create the collection
    patients = sorted(database()[name].distinct("patient"))
    for patient_id in patients:
        panel_search.refresh(patient_id)
    return f"search terms of {len(patients)} patients on panels"


def sessions_revisions(now: datetime) -> str:
    """Logging writes confirm a patient's token against their summary's sessions revision
    (`session_memory`): give every summary of an earlier release one (until then each of
    their writes reads for the token's revocation, as every request did)."""
    name = AdherenceSummary._meta["collection"]
    if name not in database().list_collection_names():
        return "no summaries yet"  # a fresh deployment: an update would create the collection
    given = (
        database()[name]
        .update_many({"sessions_rev": {"$exists": False}}, {"$set": {"sessions_rev": ObjectId()}})
        .modified_count
    )
    return f"a sessions revision for {given} summaries"


MIGRATIONS = [
    Migration(1, "rollups filed a quarter per document", refile_rollups),
    Migration(2, "push state moved from notifications to the outbox", pushes_to_outbox),
    Migration(3, "panel search terms", panel_search_terms),
    Migration(4, "sessions revisions on the summaries", sessions_revisions),
]
LATEST = MIGRATIONS[-1].number


def documents() -> list[type[me.Document]]:
    return [
        cls
        for cls in _document_registry.values()
        if issubclass(cls, me.Document) and not cls._meta.get("abstract")
    ]


def ensure_indexes() -> int:
    """Create every declared index (existing ones are left alone); returns the models seen."""
    models = documents()
    for cls in models:
        cls.ensure_indexes()
    return len(models)


def version() -> int:
    stored = SchemaVersion._get_collection().find_one({"_id": "carepact"}, {"version": 1})
    return (stored or {}).get("version", 0)


def migrate(*, now: datetime) -> list[str]:
    """Apply, in order, every migration the database has not had; one line per migration."""
    done, lines = version(), []
    for migration in MIGRATIONS:
        if migration.number <= done:
            continue
        outcome = migration.run(now)
        record = AppliedMigration(number=migration.number, name=migration.name, applied_at=now)
        SchemaVersion._get_collection().update_one(
            {"_id": "carepact"},
            {"$set": {"version": migration.number}, "$push": {"applied": record.to_mongo()}},
            upsert=True,
        )
        lines.append(f"migration {migration.number} ({migration.name}): {outcome}")
    return lines


def init(*, now: datetime) -> list[str]:
    """Indexes, built-in data, migrations; safe to run on every deploy."""
    lines = [f"indexes of {ensure_indexes()} collections in place"]
    loaded = education.load_starter_library(shipped.starter_items(), now=now)
    lines.append(f"starter education library: {loaded} items")
    lines += migrate(now=now) or [f"migrations: up to date (version {LATEST})"]
    return lines


def check_current() -> None:
    """Raise MigrationsBehind unless every migration of this release has been applied."""
    current = version()
    if current < LATEST:
        raise MigrationsBehind(
            f"the database is at migration {current}, this release needs {LATEST}: "
            "run `flask --app wsgi init` first"
        )
