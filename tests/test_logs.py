"""Logging through HTTP: idempotent writes, validation, batches, edits, deletes, access."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

from tests.log_helpers import GLUCOSE, WALK, WEIGHT, entry, local, periods, plan, post


def stored(mongo, **query):
    return list(mongo.log_entries.find({"state": {"$ne": "void"}, **query}))


def rollup(mongo, p, goal_id, key):
    return periods(mongo, p.patient.pk)[(goal_id, key)]


class TestCreate:
    def test_an_entry_is_stored_in_the_canonical_unit_with_what_was_typed(
        self, client, factory, mongo
    ):
        p = plan(factory)
        body = entry(p, value=0.5, unit="h", note="park")
        response = post(client, p, body)
        assert response.status_code == 201, response.get_json()
        shown = response.get_json()
        assert shown["id"] == body["id"]
        assert shown["value"] == 0.5 and shown["unit"] == "h"
        assert shown["canonical_value"] == 30 and shown["canonical_unit"] == "min"
        assert shown["source"] == "app" and shown["recorded_by"] is None
        assert shown["history"] == [] and shown["deleted"] is False
        [doc] = stored(mongo)
        assert doc["value"] == 30 and doc["entered_value"] == 0.5 and doc["entered_unit"] == "h"
        assert doc["uid"] == body["id"] and doc["seq"] == 1
        day = shown["local_date"]
        assert rollup(mongo, p, "g_walk", day)["met"] is True

    def test_a_new_patients_first_entries_sent_at_once_are_all_numbered(self, app, factory, mongo):
        p = plan(factory)
        bodies = [entry(p, value=10 + n) for n in range(4)]
        statuses = []

        def send(body):
            statuses.append(post(app.test_client(), p, body).status_code)

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [201] * 4
        assert sorted(d["seq"] for d in stored(mongo)) == [1, 2, 3, 4]
        assert mongo.adherence_summaries.find_one({"_id": p.patient.pk})["seq"] == 4

    def test_a_replay_returns_the_stored_entry_and_stores_nothing_more(
        self, client, factory, mongo
    ):
        p = plan(factory)
        body = entry(p, value=20)
        first = post(client, p, body)
        again = post(client, p, body)
        assert first.status_code == 201 and again.status_code == 200
        assert again.get_json() == first.get_json()
        assert len(stored(mongo)) == 1
        assert rollup(mongo, p, "g_walk", first.get_json()["local_date"])["count"] == 1

    def test_the_same_id_with_another_body_is_a_conflict(self, client, factory, mongo):
        p = plan(factory)
        body = entry(p, value=20)
        post(client, p, body)
        response = post(client, p, {**body, "value": 45})
        assert response.status_code == 409
        assert response.get_json()["entry_id"] == body["id"]
        [doc] = stored(mongo)
        assert doc["value"] == 20
        assert rollup(mongo, p, "g_walk", doc["local_date"])["total"] == 20

    def test_the_server_chooses_an_id_when_none_is_sent(self, client, factory):
        p = plan(factory)
        body = entry(p)
        del body["id"]
        response = post(client, p, body)
        assert response.status_code == 201
        assert uuid.UUID(response.get_json()["id"])

    def test_glucose_is_shown_in_the_patients_unit_and_kept_as_typed(self, client, factory, mongo):
        p = plan(factory, glucose_unit="mmol/L")
        response = post(client, p, entry(p, goal="g_glucose", value=126, unit="mg/dL"))
        shown = response.get_json()
        assert shown["unit"] == "mmol/L" and shown["value"] == 6.99
        assert shown["entered_value"] == 126 and shown["entered_unit"] == "mg/dL"
        assert stored(mongo)[0]["value"] == 126

    def test_a_glucose_reading_outside_the_target_raises_the_flag(self, client, factory, mongo):
        p = plan(factory)
        response = post(client, p, entry(p, goal="g_glucose", value=250))
        assert response.get_json()["in_target"] is False
        summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
        assert summary["flags"]["out_of_range"] is True
        assert rollup(mongo, p, "g_glucose", response.get_json()["local_date"])["met"] is False


class TestValidation:
    def assert_refused(self, response, field, mongo):
        assert response.status_code == 422, response.get_json()
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], response.get_json()
        assert stored(mongo) == []

    def test_an_entry_in_the_future_is_refused(self, client, factory, mongo):
        p = plan(factory)
        later = datetime.now(UTC) + timedelta(minutes=30)
        self.assert_refused(post(client, p, entry(p, at=later)), "occurred_at", mongo)

    def test_a_little_clock_skew_is_tolerated(self, client, factory):
        p = plan(factory)
        soon = datetime.now(UTC) + timedelta(minutes=2)
        assert post(client, p, entry(p, at=soon)).status_code == 201

    def test_an_entry_before_the_agreement_started_is_refused(self, client, factory, mongo):
        p = plan(factory, active_since=datetime.now(UTC) - timedelta(days=2))
        early = datetime.now(UTC) - timedelta(days=3)
        self.assert_refused(post(client, p, entry(p, at=early)), "occurred_at", mongo)

    def test_implausible_values_are_refused(self, client, factory, mongo):
        p = plan(factory)
        self.assert_refused(post(client, p, entry(p, value=2000)), "value", mongo)
        self.assert_refused(post(client, p, entry(p, value=-1)), "value", mongo)
        self.assert_refused(post(client, p, entry(p, value=1e12)), "value", mongo)
        response = post(client, p, entry(p, goal="g_glucose", value=60, unit="mmol/L"))
        self.assert_refused(response, "value", mongo)
        assert "mmol/L" in response.get_json()["errors"]["value"][0]

    def test_unknown_goals_agreements_and_units_are_refused(self, client, factory, mongo):
        p = plan(factory)
        self.assert_refused(post(client, p, entry(p, goal="g_nope")), "goal_id", mongo)
        self.assert_refused(post(client, p, entry(p, unit="furlongs")), "unit", mongo)
        other = plan(factory)
        response = post(client, p, {**entry(p), "agreement_id": other.aid})
        self.assert_refused(response, "agreement_id", mongo)
        self.assert_refused(
            post(client, p, {**entry(p), "agreement_id": "nope"}), "agreement_id", mongo
        )

    def test_an_agreement_that_is_not_active_is_refused(self, client, factory, mongo):
        p = plan(factory)
        draft = factory.agreement(p.patient, p.provider, status="draft", goals=[WALK])
        response = post(client, p, {**entry(p), "agreement_id": str(draft.pk)})
        self.assert_refused(response, "agreement_id", mongo)

    def test_bad_shapes_are_refused_naming_the_field(self, client, factory, mongo):
        p = plan(factory)
        self.assert_refused(post(client, p, entry(p, value="lots")), "value", mongo)
        self.assert_refused(post(client, p, {**entry(p), "id": "not-a-uuid"}), "id", mongo)
        self.assert_refused(post(client, p, entry(p, colour="red")), "colour", mongo)
        self.assert_refused(post(client, p, entry(p, note="x" * 1001)), "note", mongo)
        self.assert_refused(post(client, p, entry(p, source="provider")), "source", mongo)
        body = entry(p)
        del body["occurred_at"]
        self.assert_refused(post(client, p, body), "occurred_at", mongo)
        naive = {**entry(p), "occurred_at": "2026-01-01T10:00:00"}
        self.assert_refused(post(client, p, naive), "occurred_at", mongo)


class TestWhoMayLog:
    def test_a_provider_on_the_team_logs_as_provider(self, client, factory, mongo):
        p = plan(factory)
        headers = factory.headers(p.provider)
        response = post(client, p, entry(p), pid=str(p.patient.pk), headers=headers)
        assert response.status_code == 201
        assert response.get_json()["source"] == "provider"
        assert response.get_json()["recorded_by"] == str(p.provider.pk)
        assert stored(mongo)[0]["recorded_by"] == p.provider.pk

    def test_a_caregiver_with_log_records_for_the_patient(self, client, factory, mongo):
        p = plan(factory)
        parent = factory.patient()
        factory.grant(p.patient, parent, permissions=["log"])
        response = post(client, p, entry(p), pid=str(p.patient.pk), headers=factory.headers(parent))
        assert response.status_code == 201
        assert response.get_json()["source"] == "app"
        assert stored(mongo)[0]["recorded_by"] == parent.pk

    def test_a_caregiver_who_may_only_view_is_forbidden(self, client, factory, mongo):
        p = plan(factory)
        parent = factory.patient()
        factory.grant(p.patient, parent, permissions=["view"])
        response = post(client, p, entry(p), pid=str(p.patient.pk), headers=factory.headers(parent))
        assert response.status_code == 403
        assert stored(mongo) == []

    def test_other_patients_and_their_entries_are_not_found(self, client, factory, mongo):
        p = plan(factory)
        other = plan(factory)
        lid = post(client, other, entry(other)).get_json()["id"]
        base = f"/api/v1/patients/{other.patient.pk}/logs"
        assert post(client, p, entry(p), pid=str(other.patient.pk)).status_code == 404
        assert client.get(base, headers=p.headers).status_code == 404
        for method in ("get", "patch", "delete"):
            response = getattr(client, method)(
                f"/api/v1/patients/me/logs/{lid}", json={"note": "x"}, headers=p.headers
            )
            assert response.status_code == 404, method
        assert len(stored(mongo)) == 1 and stored(mongo)[0]["note"] is None


class TestBatch:
    def test_a_mixed_batch_gives_one_result_per_item(self, client, factory, mongo):
        p = plan(factory)
        existing = entry(p, value=10)
        post(client, p, existing)
        good = entry(p, value=15)
        items = [
            good,
            existing,
            {**existing, "value": 99},
            entry(p, value=5000),
            "not an object",
            {k: v for k, v in entry(p).items() if k != "id"},
            entry(p, goal="g_glucose", value=120),
            good,
        ]
        response = client.post(
            "/api/v1/patients/me/logs/batch", json={"entries": items}, headers=p.headers
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        statuses = [r["status"] for r in body["results"]]
        assert statuses == [
            "created",
            "duplicate",
            "error",
            "error",
            "error",
            "error",
            "created",
            "error",
        ]
        results = body["results"]
        assert results[0]["entry"]["id"] == good["id"]
        assert results[1]["entry"]["value"] == 10
        assert "id" in results[2]["errors"]
        assert "value" in results[3]["errors"]
        assert "_body" in results[4]["errors"]
        assert "id" in results[5]["errors"] and "id" in results[7]["errors"]
        assert (body["created"], body["duplicates"], body["errors"]) == (2, 1, 5)
        assert len(stored(mongo)) == 3
        seqs = sorted(d["seq"] for d in mongo.log_entries.find())
        assert seqs == list(range(1, len(seqs) + 1))

    def test_more_than_500_entries_are_refused(self, client, factory, mongo):
        p = plan(factory)
        items = [entry(p) for _ in range(501)]
        response = client.post(
            "/api/v1/patients/me/logs/batch", json={"entries": items}, headers=p.headers
        )
        assert response.status_code == 422
        assert "entries" in response.get_json()["errors"]
        assert stored(mongo) == []

    def test_a_batch_of_500_is_stored_at_once(self, client, factory, mongo):
        p = plan(factory)
        start = datetime.now(UTC) - timedelta(days=20)
        items = [entry(p, value=3, at=start + timedelta(minutes=50 * i)) for i in range(500)]
        response = client.post(
            "/api/v1/patients/me/logs/batch", json={"entries": items}, headers=p.headers
        )
        assert response.get_json()["created"] == 500
        assert len(stored(mongo)) == 500
        totals = sum(r["total"] for r in periods(mongo, p.patient.pk).values())
        assert totals == 1500


class TestEditAndDelete:
    def test_an_edit_moves_the_rollup_and_keeps_history(self, client, factory, mongo):
        p = plan(factory)
        created = post(client, p, entry(p, value=20)).get_json()
        day = created["local_date"]
        assert rollup(mongo, p, "g_walk", day)["met"] is False
        response = client.patch(
            f"/api/v1/patients/me/logs/{created['id']}",
            json={"value": 40, "note": "longer"},
            headers=p.headers,
        )
        assert response.status_code == 200, response.get_json()
        edited = response.get_json()
        assert edited["value"] == 40 and edited["note"] == "longer"
        assert edited["history"][0]["entered_value"] == 20
        assert edited["history"][0]["change"] == "edit"
        assert rollup(mongo, p, "g_walk", day)["total"] == 40
        assert rollup(mongo, p, "g_walk", day)["met"] is True

    def test_moving_an_entry_to_another_day_moves_both_rollups(self, client, factory, mongo):
        p = plan(factory)
        when = datetime.now(UTC) - timedelta(days=3)
        created = post(client, p, entry(p, value=35, at=when)).get_json()
        earlier = when - timedelta(days=1)
        client.patch(
            f"/api/v1/patients/me/logs/{created['id']}",
            json={"occurred_at": earlier.isoformat()},
            headers=p.headers,
        )
        old = rollup(mongo, p, "g_walk", when.date().isoformat())
        new = rollup(mongo, p, "g_walk", earlier.date().isoformat())
        assert (old["count"], old["met"]) == (0, False)
        assert (new["count"], new["met"]) == (1, True)

    def test_a_delete_leaves_a_tombstone_and_moves_the_rollup(self, client, factory, mongo):
        p = plan(factory)
        created = post(client, p, entry(p, value=35)).get_json()
        url = f"/api/v1/patients/me/logs/{created['id']}"
        assert client.delete(url, headers=p.headers).status_code == 204
        assert rollup(mongo, p, "g_walk", created["local_date"])["met"] is False
        shown = client.get(url, headers=p.headers).get_json()
        assert shown["deleted"] is True and shown["history"][0]["change"] == "delete"
        listed = client.get("/api/v1/patients/me/logs", headers=p.headers).get_json()
        assert listed == []
        assert client.delete(url, headers=p.headers).status_code == 404
        assert post(client, p, {**entry(p), "id": created["id"]}).status_code == 409

    def test_last_reading_measures_follow_edits_and_deletes(self, client, factory, mongo):
        p = plan(factory, goals=[WEIGHT])
        # Both readings on the same (UTC) day whatever the hour the suite runs.
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        at = local(yesterday, 9, 0, "UTC")
        first = post(client, p, entry(p, goal="g_weight", value=85, at=at)).get_json()
        later = entry(p, goal="g_weight", value=95, at=at + timedelta(hours=1))
        second = post(client, p, later).get_json()
        day = first["local_date"]
        assert rollup(mongo, p, "g_weight", day)["met"] is False
        client.delete(f"/api/v1/patients/me/logs/{second['id']}", headers=p.headers)
        assert rollup(mongo, p, "g_weight", day)["met"] is True
        assert rollup(mongo, p, "g_weight", day)["value"] == 85

    def test_a_delete_moves_the_last_out_of_range_reading_back(self, client, factory, mongo):
        p = plan(factory, goals=[GLUCOSE])
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        times = [local(yesterday, hour, 0, "UTC") for hour in (8, 9, 10)]
        for at, value in zip(times, (250, 120, 260), strict=True):
            assert (
                post(client, p, entry(p, goal="g_glucose", value=value, at=at)).status_code == 201
            )
        last = mongo.log_entries.find_one({"patient": p.patient.pk, "value": 260})
        summary = mongo.adherence_summaries.find_one
        assert summary({"_id": p.patient.pk})["last_out_of_range_at"] == times[2]
        deleted = client.delete(f"/api/v1/patients/me/logs/{last['uid']}", headers=p.headers)
        assert deleted.status_code == 204
        assert summary({"_id": p.patient.pk})["last_out_of_range_at"] == times[0]

    def test_a_provider_may_not_edit_an_entry(self, client, factory, mongo):
        p = plan(factory)
        created = post(client, p, entry(p, value=35)).get_json()
        url = f"/api/v1/patients/{p.patient.pk}/logs/{created['id']}"
        headers = factory.headers(p.provider)
        assert client.patch(url, json={"value": 1}, headers=headers).status_code == 403
        assert client.delete(url, headers=headers).status_code == 403
        assert stored(mongo)[0]["value"] == 35

    def test_an_edit_is_validated_like_a_new_entry(self, client, factory, mongo):
        p = plan(factory)
        created = post(client, p, entry(p, value=35)).get_json()
        url = f"/api/v1/patients/me/logs/{created['id']}"
        for body, field in (
            ({"value": 5000}, "value"),
            ({"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "occurred_at"),
            ({}, "_body"),
            ({"goal_id": "g_x"}, "goal_id"),
        ):
            response = client.patch(url, json=body, headers=p.headers)
            assert response.status_code == 422, body
            assert field in response.get_json()["errors"]
        assert stored(mongo)[0]["value"] == 35 and stored(mongo)[0]["history"] == []


class TestListing:
    def test_filters_and_pagination(self, client, factory):
        p = plan(factory)
        now = datetime.now(UTC)
        for hours in range(1, 6):
            post(client, p, entry(p, value=hours, at=now - timedelta(hours=hours)))
        post(client, p, entry(p, goal="g_glucose", value=100))
        response = client.get(
            "/api/v1/patients/me/logs?goal_id=g_walk&page_size=2", headers=p.headers
        )
        assert [e["value"] for e in response.get_json()] == [1, 2]
        assert '"total": 5' in response.headers["X-Pagination"]
        since = (now - timedelta(hours=3, minutes=30)).isoformat().replace("+00:00", "Z")
        response = client.get(
            f"/api/v1/patients/me/logs?goal_id=g_walk&from={since}", headers=p.headers
        )
        assert [e["value"] for e in response.get_json()] == [1, 2, 3]
        assert (
            client.get("/api/v1/patients/me/logs?from=soon", headers=p.headers).status_code == 422
        )
