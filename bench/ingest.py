"""POST /patients/me/logs under gunicorn, 8 clients (a patient each), beside the reading floor.

The reading floor is a bare Flask route doing in raw pymongo the irreducible work of one
reading (`bench/floor_app.py`); the ratio to a bare one-`insert_one` route is printed too.
Also prints the database commands one logged reading costs (counted in-process with a
pymongo CommandListener), without and with the diabetes template's default alert rules, and
checks the query paths with explain(). The load runs with the rules active. Goal: at least
0.67x the reading floor and at most 5 commands per reading.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from tests.factories import Factory

NAME = "ingest"
GOAL = 0.67
MAX_COMMANDS = 5.0
SECONDS = 12
CLIENTS = 8
GOALS = common.WALK_AND_GLUCOSE_GOALS


def _body_maker(agreement_ids: list[str]):
    """Bodies for client n: readings of its own patient's agreement."""

    def make(number: int = 0):
        agreement_id = agreement_ids[number % len(agreement_ids)]
        now = datetime.now(UTC)
        goal = random.choice(GOALS)
        value = random.randint(5, 40) if goal["id"] == "g_walk" else random.randint(60, 200)
        return {
            "id": str(uuid.uuid4()),
            "agreement_id": agreement_id,
            "goal_id": goal["id"],
            "occurred_at": (now - timedelta(minutes=random.randint(1, 14400))).isoformat(),
            "value": value,
        }

    return make


def _commands_per_entry(client, headers, make, entries: int = 100) -> float:
    """Counted in steady state: the days' rollups exist already, as they do after a while."""
    for _ in range(200):
        client.post("/api/v1/patients/me/logs", json=make(), headers=headers)
    common.counter.reset()
    for _ in range(entries):
        response = client.post("/api/v1/patients/me/logs", json=make(), headers=headers)
        assert response.status_code == 201, response.get_json()
    per_entry = common.counter.total / entries
    print(f"  commands per POST (in-process, {entries} entries): {per_entry:.2f}")
    for (command, collection), count in sorted(common.counter.commands.items()):
        print(f"    {command:>16} {collection:<24} {count / entries:.2f}")
    return per_entry


def _activate_alert_rules(patient_id) -> None:
    from api.services.alerts import rules as alert_rules

    created = alert_rules.create_defaults(patient_id, "t2-diabetes", now=datetime.now(UTC))
    print(f"  alert rules: the diabetes template's {created} defaults are active")


def _check_alert_indexes(patient_id) -> None:
    from api.models.alert import Alert, AlertRule
    from api.models.log import LogEntry

    common.assert_no_collscan(
        AlertRule._get_collection().find(
            {"patient": patient_id, "measure": {"$in": ["blood_glucose", "steps"]}}
        ),
        "alert rules of a measure",
    )
    common.assert_no_collscan(
        AlertRule._get_collection().find(
            {"kind": "no_data", "check_at": {"$lte": datetime.now(UTC)}}
        ),
        "no_data rules due",
    )
    common.assert_no_collscan(
        LogEntry._get_collection()
        .find({"patient": patient_id, "measure": "blood_glucose", "state": "live"})
        .sort("occurred_at", -1)
        .limit(1),
        "latest reading of a measure",
    )
    common.assert_no_collscan(
        Alert._get_collection().find({"rule": patient_id, "active": True}), "open alert of a rule"
    )


def _check_indexes(patient_id) -> None:
    from api.models.log import LogEntry

    entries = LogEntry._get_collection()
    common.assert_no_collscan(
        entries.find({"patient": patient_id, "seq": {"$gt": 0}}).sort("seq", 1), "sync by seq"
    )
    common.assert_no_collscan(
        entries.find({"patient": patient_id, "uid": "x"}), "entry by client id"
    )
    common.assert_no_collscan(
        entries.find({"patient": patient_id, "state": "live"}).sort("occurred_at", -1),
        "listing newest first",
    )
    common.assert_no_collscan(
        entries.find({"patient": patient_id, "goal_id": "g_walk", "state": "live"}).sort(
            "occurred_at", -1
        ),
        "listing one goal",
    )


def main() -> bool:
    with common.embedded_server() as server:
        uri = common.database_uri(server, "bench_ingest")
        app = common.make_app(uri)
        with app.app_context():
            factory = Factory(app)
            provider = factory.provider()
            # One patient per client: eight people logging, not one person's eight phones.
            patients, agreement_ids = [], []
            for _ in range(CLIENTS):
                patient = factory.patient(timezone="America/New_York")
                factory.membership(patient, provider)
                agreement = factory.agreement(patient, provider, goals=GOALS)
                patients.append(patient)
                agreement_ids.append(str(agreement.pk))
            client_headers = [factory.headers(each) for each in patients]
            patient, headers = patients[0], client_headers[0]
            make = _body_maker(agreement_ids)
            print("  without alert rules:")
            without_rules = _commands_per_entry(app.test_client(), headers, make)
            for each in patients:
                _activate_alert_rules(each.pk)
            print("  with alert rules:")
            per_entry = _commands_per_entry(app.test_client(), headers, make)
            print(
                f"  commands per logged reading: {without_rules:.2f} without rules, "
                f"{per_entry:.2f} with the diabetes defaults"
            )
            _check_indexes(patient.pk)
            _check_alert_indexes(patient.pk)

        with common.gunicorn("bench.floor_app:app", uri) as port:
            bare, bare_statuses = common.load(
                port, "/floor", make, common.floor_client, clients=CLIENTS, seconds=SECONDS
            )
            floor, floor_statuses = common.load(
                port, "/reading", make, common.floor_client, clients=CLIENTS, seconds=SECONDS
            )
        print(f"  bare insert floor: {bare:.0f} req/s {dict(bare_statuses)}")
        print(f"  reading floor:     {floor:.0f} req/s {dict(floor_statuses)}")
        with common.gunicorn("wsgi:app", uri) as port:
            figure, statuses = common.load(
                port,
                "/api/v1/patients/me/logs",
                make,
                lambda n: client_headers[n],
                clients=CLIENTS,
                seconds=SECONDS,
            )
        print(f"  app (POST /patients/me/logs): {figure:.0f} req/s {dict(statuses)}")
        ratio = figure / floor
        print(f"  ratio to the reading floor: {ratio:.2f} (goal >= {GOAL})")
        print(f"  ratio to the bare insert floor: {figure / bare:.2f}")
        ok = {201} == set(statuses) == set(floor_statuses) == set(bare_statuses)
        return common.summary(
            NAME,
            figure=f"{figure:.0f}req/s",
            floor=f"{floor:.0f}req/s",
            ratio=ratio,
            commands=per_entry,
            goal=f">={GOAL},commands<={MAX_COMMANDS:g}",
            passed=ok and ratio >= GOAL and per_entry <= MAX_COMMANDS,
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
