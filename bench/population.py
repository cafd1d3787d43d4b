"""The clinic population view at 2,000 and 20,000 patients, and a campaign to 10,000.

1. `GET /clinics/{cid}/population` for a clinic of 20,000 patients against the same view for
   2,000 (median of repeated requests, in-process test client): goal within 2x. The view reads
   aggregate documents, so its cost must not follow the number of patients.
2. Delivering a campaign to 10,000 patients (one `deliver_due` tick, inbox channel) against the
   reminders' floor measured in the same run: reading those 10,000 targets in one cursor plus
   `insert_many` of 10,000 inbox documents with the inbox's indexes: goal within 1.5x.
Fixtures are bulk-inserted with raw pymongo; the aggregates are built by
`population_rebuild.rebuild`
(the operators' path), and everything measured runs the real code.
"""

import statistics
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from bench import common

NAME = "population"
VIEW_GOAL, DELIVERY_GOAL = 2.0, 1.5
SMALL, LARGE, TARGETED = 2_000, 20_000, 10_000
BATCH = 2_000
VIEW_REPEATS = 40
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


def _add_patients(db, provider: ObjectId, count: int, now: datetime) -> None:
    """`count` patients of `provider`: half with type 2 diabetes (HbA1c overdue for a third),
    half with hypertension; 30-day adherence spread over 0-100; a few open alerts."""
    overdue = (now - timedelta(days=10)).date().isoformat()
    upcoming = (now + timedelta(days=60)).date().isoformat()
    for start in range(0, count, BATCH):
        users, members, summaries, agreements = [], [], [], []
        for n in range(start, min(start + BATCH, count)):
            patient = ObjectId()
            condition = "type 2 diabetes" if n % 2 == 0 else "hypertension"
            users.append(
                {
                    "_id": patient,
                    "name": f"Patient {n}",
                    "role": "patient",
                    "timezone": "UTC",
                    "outreach_opt_out": False,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            )
            members.append(
                {
                    "patient": patient,
                    "provider": provider,
                    "role": "primary",
                    "status": "active",
                    "open": True,
                    "activated_at": CREATED,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            )
            due = overdue if n % 3 == 0 else upcoming
            summaries.append(
                {
                    "_id": patient,
                    "tz": "UTC",
                    "adherence_30d": float(n % 101),
                    "open_alerts": {"warning": 1} if n % 50 == 0 else {},
                    "checkups_due": [{"id": "c_a1c", "name": "HbA1c", "due_on": due}]
                    if condition == "type 2 diabetes"
                    else [],
                }
            )
            agreements.append(
                {
                    "patient": patient,
                    "author": provider,
                    "status": "active",
                    "version": 1,
                    "content": {"title": "Plan", "conditions": [condition], "goals": []},
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            )
        db.users.insert_many(users, ordered=False)
        db.care_team_members.insert_many(members, ordered=False)
        db.adherence_summaries.insert_many(summaries, ordered=False)
        db.agreements.insert_many(agreements, ordered=False)


def _clinic(db, name: str, patients: int, now: datetime):
    from api.models.user import User
    from api.services.clinic import clinics, population_rebuild

    provider = User(name=f"Dr {name}", role="provider").save()
    clinic = clinics.create_clinic(name=name, created_by=provider.pk, now=now)
    db.clinics.update_one({"_id": clinic.pk}, {"$set": {"providers": [provider.pk]}})
    _add_patients(db, provider.pk, patients, now)
    started = time.perf_counter()
    population_rebuild.rebuild(clinic.pk, now=now)
    print(f"  rebuilt {patients:,} patients in {time.perf_counter() - started:.1f}s")
    return clinic, provider


def _view_seconds(app, client, provider, clinic_id) -> tuple[float, float]:
    """(median seconds, database commands) of the population view."""
    from api.services.identity import tokens

    with app.test_request_context():
        token = tokens.issue_pair(provider)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/clinics/{clinic_id}/population"
    times = []
    for _ in range(VIEW_REPEATS):
        common.counter.reset()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["month_earlier"] is not None
    return statistics.median(times), common.counter.total, body


def _floor_seconds(db, clinic_id) -> float:
    """Read the 10,000 targets in one cursor; insert one inbox document each."""
    from api.services.clinic import campaigns

    floor = db.floor_notifications
    for index in db.notifications.list_indexes():
        if index["name"] != "_id_":
            floor.create_index(list(index["key"].items()), unique=index.get("unique", False))
    started = time.perf_counter()
    targets = list(
        db.population_profiles.find({"in_clinics": clinic_id, "conditions": "type 2 diabetes"})
    )
    documents = [
        {
            "patient": t["_id"],
            "key": "campaign:floor",
            "kind": "outreach",
            "title": "Time for your HbA1c test",
            "body": "Book it with your care team.",
            "created_at": CREATED,
        }
        for t in targets
    ]
    # In the delivery's chunks: one 10,000-document insert can outlast the socket timeout.
    for start in range(0, len(documents), campaigns.INSERT_CHUNK):
        floor.insert_many(documents[start : start + campaigns.INSERT_CHUNK], ordered=False)
    elapsed = time.perf_counter() - started
    assert len(targets) == TARGETED, len(targets)
    return elapsed


def _check_indexes(db, clinic_id, campaign) -> None:
    from api.services.clinic import campaigns

    some = campaigns.notification_ids(campaign)[:20]
    common.assert_no_collscan(
        db.population_aggregates.find({"clinic": clinic_id}), "the clinic's aggregates"
    )
    common.assert_no_collscan(
        db.population_snapshots.find(
            {"clinic": clinic_id, "condition": "*", "day": {"$lte": "9999"}}
        ).sort("day", -1),
        "a month earlier",
    )
    common.assert_no_collscan(
        db.population_profiles.find({"in_clinics": clinic_id}), "a clinic's patients"
    )
    common.assert_no_collscan(
        db.campaigns.find({"open": True, "lease_until": {"$lte": CREATED}}).sort(
            [("open", 1), ("lease_until", 1)]
        ),
        "claiming a due campaign",
    )
    common.assert_no_collscan(
        db.notifications.find({"_id": {"$in": some}}, {"read_at": 1}),
        "a campaign's delivered and read counts",
    )


def main() -> bool:
    from api import db as database
    from api.models.campaign import Campaign
    from api.models.notification import Notification
    from api.models.population import PopulationAggregate, PopulationProfile, PopulationSnapshot
    from api.services.clinic import campaigns, population_view

    now = datetime.now(UTC).replace(microsecond=0)
    with common.embedded_server() as server:
        app = common.make_app(common.database_uri(server, "bench_population"))
        with app.app_context():
            db = database.database()
            for model in (
                PopulationProfile,
                PopulationAggregate,
                PopulationSnapshot,
                Campaign,
                Notification,
            ):
                model._get_collection()  # creates the declared indexes
            client = app.test_client()
            small, small_provider = _clinic(db, "Small", SMALL, now)
            large, large_provider = _clinic(db, "Large", LARGE, now)
            population_view.take_snapshots(now=now - timedelta(days=31))

            small_s, _, _ = _view_seconds(app, client, small_provider, small.pk)
            large_s, view_commands, body = _view_seconds(app, client, large_provider, large.pk)
            assert body["current"]["patients"] == LARGE, body["current"]
            view_ratio = large_s / small_s
            print(
                f"  view: {large_s * 1000:.1f} ms at {LARGE:,} patients vs {small_s * 1000:.1f} ms "
                f"at {SMALL:,} (x{view_ratio:.2f}); {view_commands} database commands per view"
            )

            data = {
                "name": "HbA1c recall",
                "cohort": {"condition": "type 2 diabetes"},
                "message": {"title": "Time for your HbA1c test", "body": "Book it with us."},
            }
            started = time.perf_counter()
            campaign = campaigns.create(
                clinic=large, data=data, created_by=large_provider.pk, now=now
            )
            print(f"  campaign created in {time.perf_counter() - started:.2f}s")
            assert len(campaign.targets) == TARGETED
            _check_indexes(db, large.pk, campaign)

            floor = _floor_seconds(db, large.pk)
            common.counter.reset()
            started = time.perf_counter()
            counts = campaigns.deliver_due(now=now, worker="bench")
            figure = time.perf_counter() - started
            commands = common.counter.total
            assert counts["outreach_delivered"] == TARGETED, counts
            outcome = campaigns.outcomes(Campaign.objects(pk=campaign.pk).first())
            assert outcome["delivered"] == TARGETED, outcome

    delivery_ratio = figure / floor
    print(
        f"  delivery {figure:.2f}s vs floor {floor:.2f}s (x{delivery_ratio:.2f}); "
        f"{commands} database commands to deliver {TARGETED:,} messages"
    )
    common.summary(
        f"{NAME}.view",
        figure=f"{large_s * 1000:.1f}ms",
        floor=f"{small_s * 1000:.1f}ms",
        ratio=view_ratio,
        commands=view_commands,
        goal=f"<={VIEW_GOAL}x the view at {SMALL:,} patients",
        passed=view_ratio <= VIEW_GOAL,
    )
    return common.summary(
        NAME,
        figure=f"{figure:.2f}s",
        floor=f"{floor:.2f}s",
        ratio=delivery_ratio,
        commands=commands,
        goal=f"<={DELIVERY_GOAL}x floor; view x{view_ratio:.2f} <={VIEW_GOAL}x",
        passed=delivery_ratio <= DELIVERY_GOAL and view_ratio <= VIEW_GOAL,
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
