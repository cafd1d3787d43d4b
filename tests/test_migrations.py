"""`flask --app wsgi init`: indexes, the starter library, data migrations recorded in a version
document; a database from an earlier release is brought forward, and the API and the worker
refuse to start on one that is behind."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api import migrations
from api.services.clinic import panel_search
from tests.log_helpers import entry, periods, plan, post
from tests.test_logging_cost import commands_sent
from tests.test_panel import join

ROOT = Path(__file__).resolve().parent.parent


def init(app):
    result = app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    return result.output


def test_init_is_idempotent_and_leaves_a_fresh_database_complete(app, mongo):
    mongo.schema_version.delete_many({})  # a database nothing has run on
    first = init(app)
    assert "starter education library" in first and "migration 1" in first
    assert "migrations: up to date" in init(app)
    stored = mongo.schema_version.find_one()
    assert stored["version"] == migrations.LATEST == 4
    assert [a["number"] for a in stored["applied"]] == [1, 2, 3, 4]
    items = mongo.education_items.count_documents({})
    assert items > 0
    init(app)
    assert mongo.education_items.count_documents({}) == items
    outbox_indexes = {i["name"] for i in mongo.outbox.list_indexes()}
    assert "state_1_due_at_1" in outbox_indexes
    assert "patient_1_key_1" in {i["name"] for i in mongo.notifications.list_indexes()}


def to_old_layout(mongo, patient_id, closed_day: str) -> None:
    """What a database of the release before quarter filing holds: one rollup per day."""
    quarters = list(mongo.adherence_rollups.find({"patient": patient_id}))
    mongo.adherence_rollups.delete_many({"patient": patient_id})
    old = []
    for doc in quarters:
        for key, period in doc["p"].items():
            old.append(
                {
                    "_id": f"{patient_id}:{doc['goal_id']}:{key}",
                    "patient": patient_id,
                    "goal_id": doc["goal_id"],
                    "period": doc["period"],
                    "key": key,
                    "start": key,
                    **period,
                }
            )
    old.append(
        {
            "_id": f"{patient_id}:g_walk:{closed_day}",
            "patient": patient_id,
            "goal_id": "g_walk",
            "period": "day",
            "key": closed_day,
            "start": closed_day,
            "count": 0,
            "closed": True,
        }
    )
    mongo.adherence_rollups.insert_many(old)
    mongo.adherence_rollups.create_index([("patient", 1), ("start", 1)])
    mongo.schema_version.delete_many({})


def test_an_old_layout_database_is_brought_forward(app, client, factory, mongo):
    p = plan(factory, active_since=datetime.now(UTC) - timedelta(days=10))
    for days_ago, minutes in ((3, 20), (2, 35), (2, 15)):
        at = datetime.now(UTC) - timedelta(days=days_ago)
        assert post(client, p, entry(p, value=minutes, at=at)).status_code == 201
    before = periods(mongo, p.patient.pk)
    closed_day = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    to_old_layout(mongo, p.patient.pk, closed_day)
    assert periods(mongo, p.patient.pk) == {}  # the reports read none of the old documents

    output = init(app)
    assert "refiled" in output and "1 closed periods kept" in output
    after = periods(mongo, p.patient.pk)
    assert {ref: after[ref] for ref in before} == before
    assert after[("g_walk", closed_day)]["closed"] is True
    assert mongo.adherence_rollups.count_documents({"quarter": {"$exists": False}}) == 0
    index_keys = [list(i["key"]) for i in mongo.adherence_rollups.list_indexes()]
    assert ["patient", "start"] not in index_keys
    assert "up to date" in init(app)


def run(args, mongo_uri, *, timeout=60):
    env = {**os.environ, "MONGODB_URI": mongo_uri, "CAREPACT_ENV": "test"}
    return subprocess.run(  # noqa: S603 - the project's own entry points, test arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_a_database_behind_is_refused_by_the_api_and_the_worker(app, mongo, mongo_uri):
    mongo.schema_version.delete_many({})
    worker = run(["-m", "jobs", "--once"], mongo_uri)
    assert worker.returncode == 1
    assert "refuses to start" in worker.stderr and "flask --app wsgi init" in worker.stderr
    api = run(["-c", "import wsgi"], mongo_uri)
    assert api.returncode == 1
    assert "refuses to start" in api.stderr and "flask --app wsgi init" in api.stderr
    init(app)
    assert run(["-c", "import wsgi"], mongo_uri).returncode == 0
    assert run(["-m", "jobs", "--once"], mongo_uri, timeout=120).returncode == 0


def test_push_state_of_the_release_before_the_outbox_moves_to_it(app, client, factory, mongo):
    patient = factory.patient(name="Ada")
    device = client.post(
        "/api/v1/patients/me/devices",
        json={"platform": "android", "token": "old-phone"},
        headers=factory.headers(patient),
    ).get_json()
    quiet_ends = datetime.now(UTC) + timedelta(hours=2)
    old = {"patient": patient.pk, "kind": "alert", "title": "Warning: low", "body": "Eat"}
    mongo.notifications.insert_many(
        [
            {**old, "key": "alert:1", "created_at": datetime.now(UTC), "push": "sent"},
            {
                **old,
                "key": "alert:2",
                "created_at": datetime.now(UTC),
                "push": "pending",
                "push_after": quiet_ends,
            },
        ]
    )
    mongo.notifications.create_index([("push_after", 1)], sparse=True)
    mongo.schema_version.update_one({}, {"$set": {"version": 1}})

    assert "1 pending pushes queued, push state cleared from 2" in init(app)
    inbox = client.get("/api/v1/patients/me/notifications", headers=factory.headers(patient))
    assert inbox.status_code == 200 and len(inbox.get_json()) == 2
    assert mongo.notifications.count_documents({"push": {"$exists": True}}) == 0
    [queued] = mongo.outbox.find()
    assert queued["_id"] == f"push:{patient.pk}:alert:2:{device['id']}"
    assert abs((queued["due_at"] - quiet_ends).total_seconds()) < 0.01
    index_keys = [list(i["key"]) for i in mongo.notifications.list_indexes()]
    assert ["push_after"] not in index_keys


def test_patients_on_panels_before_the_search_terms_are_found_after_init(app, factory, mongo):
    provider = factory.provider()
    patient = factory.patient(name="Élodie Marchand")
    factory.agreement(patient, provider, conditions=["asthma"])
    join(patient, provider)
    mongo.panel_terms.delete_many({})  # the release before kept none
    mongo.schema_version.update_one({}, {"$set": {"version": 2}})
    assert "migration 3 (panel search terms): search terms of 1 patients" in init(app)
    for query in (
        panel_search.find_query(provider.pk, name="elo"),
        panel_search.find_query(provider.pk, condition="asthma"),
    ):
        assert [t["patient"] for t in panel_search.terms().find(query)] == [patient.pk]


def test_summaries_of_an_earlier_release_get_a_sessions_revision(app, client, factory, mongo):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    mongo.adherence_summaries.update_one({}, {"$unset": {"sessions_rev": ""}})
    mongo.schema_version.update_one({}, {"$set": {"version": 3}})
    output = init(app)
    assert "migration 4 (sessions revisions on the summaries): a sessions revision for 1" in output
    assert mongo.adherence_summaries.find_one({"_id": p.patient.pk})["sessions_rev"] is not None
    assert "migrations: up to date" in init(app)
    # From then on the patient's token is remembered: a second entry reads nothing.
    assert post(client, p, entry(p)).status_code == 201
    before = commands_sent("find")
    assert post(client, p, entry(p)).status_code == 201
    assert commands_sent("find") == before
