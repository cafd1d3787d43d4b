"""Devices and the inbox through HTTP: registration, caregivers, reading, bad input, access."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from api.errors import PROBLEM_JSON

DEVICES = "/api/v1/patients/{}/devices"
INBOX = "/api/v1/patients/{}/notifications"
TOKEN = "fcm-token-0123456789"


def problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()


def add_notification(mongo, patient, key, minutes_ago, read=False):
    now = datetime(2025, 1, 15, 12, tzinfo=UTC)
    return mongo.notifications.insert_one(
        {
            "patient": patient.pk,
            "key": key,
            "kind": "goal_reminder",
            "title": f"Reminder {key}",
            "body": "Walk",
            "created_at": now - timedelta(minutes=minutes_ago),
            "read_at": now if read else None,
        }
    ).inserted_id


class TestDevices:
    def test_register_is_idempotent_per_token(self, client, factory, mongo):
        patient = factory.patient()
        headers = factory.headers(patient)
        body = {"platform": "android", "token": TOKEN}
        first = client.post(DEVICES.format("me"), json=body, headers=headers)
        assert first.status_code == 201, first.get_json()
        again = client.post(DEVICES.format("me"), json=body, headers=headers)
        assert again.status_code == 200
        assert again.get_json()["id"] == first.get_json()["id"]
        stored = list(mongo.devices.find())
        assert len(stored) == 1
        assert (stored[0]["patient"], stored[0]["owner"]) == (patient.pk, patient.pk)
        listed = client.get(DEVICES.format("me"), headers=headers)
        assert [d["token"] for d in listed.get_json()] == [TOKEN]
        assert json.loads(listed.headers["X-Pagination"])["total"] == 1

    def test_a_phone_registering_twice_at_once_gets_one_device(self, app, factory, mongo):
        """Racing registrations of one token: each answers with the one device stored (the
        loser of the insert finds the winner's), none with an error."""
        patient = factory.patient()
        headers = factory.headers(patient)
        body = {"platform": "ios", "token": TOKEN}
        start = threading.Barrier(6)
        answers = []

        def register():
            start.wait()
            response = app.test_client().post(DEVICES.format("me"), json=body, headers=headers)
            answers.append((response.status_code, response.get_json().get("id")))

        racers = [threading.Thread(target=register) for _ in range(6)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert {status for status, _ in answers} <= {200, 201}, answers
        assert len({device_id for _, device_id in answers}) == 1
        assert mongo.devices.count_documents({"token": TOKEN}) == 1

    def test_unregister(self, client, factory, mongo):
        patient = factory.patient()
        headers = factory.headers(patient)
        device = client.post(
            DEVICES.format("me"), json={"platform": "ios", "token": TOKEN}, headers=headers
        ).get_json()
        response = client.delete(f"{DEVICES.format('me')}/{device['id']}", headers=headers)
        assert response.status_code == 204
        assert mongo.devices.count_documents({}) == 0
        problem(client.delete(f"{DEVICES.format('me')}/{device['id']}", headers=headers), 404)
        problem(client.delete(f"{DEVICES.format('me')}/not-an-id", headers=headers), 404)

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"token": TOKEN}, "platform"),
            ({"platform": "windows", "token": TOKEN}, "platform"),
            ({"platform": "ios"}, "token"),
            ({"platform": "ios", "token": 12345678}, "token"),
            ({"platform": "ios", "token": "x" * 5000}, "token"),
            ({"platform": "ios", "token": TOKEN, "extra": 1}, "extra"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(self, client, factory, mongo, body, field):
        patient = factory.patient()
        response = client.post(DEVICES.format("me"), json=body, headers=factory.headers(patient))
        assert field in problem(response, 422)["errors"]
        assert mongo.devices.count_documents({}) == 0

    def test_a_caregiver_with_manage_registers_their_own_phone(self, client, factory, mongo):
        child = factory.patient(name="Ada")
        parent = factory.user("patient", name="Parent")
        factory.grant(child, parent, permissions=("manage",))
        response = client.post(
            DEVICES.format(child.pk),
            json={"platform": "ios", "token": TOKEN},
            headers=factory.headers(parent),
        )
        assert response.status_code == 201
        stored = mongo.devices.find_one()
        assert (stored["patient"], stored["owner"]) == (child.pk, parent.pk)

    def test_view_only_caregivers_providers_and_strangers_may_not(self, client, factory, mongo):
        patient = factory.patient()
        viewer, stranger, provider = factory.patient(), factory.patient(), factory.provider()
        factory.grant(patient, viewer, permissions=("view",))
        factory.membership(patient, provider)
        body = {"platform": "ios", "token": TOKEN}
        url = DEVICES.format(patient.pk)
        problem(client.post(url, json=body, headers=factory.headers(viewer)), 403)
        problem(client.post(url, json=body, headers=factory.headers(provider)), 403)
        problem(client.post(url, json=body, headers=factory.headers(stranger)), 404)
        problem(
            client.post(DEVICES.format(ObjectId()), json=body, headers=factory.headers(stranger)),
            404,
        )
        problem(client.post(url, json=body), 401)
        assert mongo.devices.count_documents({}) == 0


class TestInbox:
    def test_newest_first_unread_filter_and_pagination(self, client, factory, mongo):
        patient = factory.patient()
        headers = factory.headers(patient)
        add_notification(mongo, patient, "a", 30, read=True)
        add_notification(mongo, patient, "b", 20)
        add_notification(mongo, patient, "c", 10)
        add_notification(mongo, factory.patient(), "other", 5)
        for_provider = add_notification(mongo, patient, "alert-for-provider", 1)
        mongo.notifications.update_one({"_id": for_provider}, {"$set": {"recipient": ObjectId()}})
        everything = client.get(INBOX.format("me"), headers=headers)
        assert [n["title"] for n in everything.get_json()] == [
            "Reminder c",
            "Reminder b",
            "Reminder a",
        ]
        unread = client.get(INBOX.format("me") + "?unread=true", headers=headers)
        assert [n["title"] for n in unread.get_json()] == ["Reminder c", "Reminder b"]
        page = client.get(INBOX.format("me") + "?page=2&page_size=2", headers=headers)
        assert [n["title"] for n in page.get_json()] == ["Reminder a"]
        assert json.loads(page.headers["X-Pagination"])["total"] == 3
        problem(client.get(INBOX.format("me") + "?unread=maybe", headers=headers), 422)
        problem(client.get(INBOX.format("me") + "?page_size=1000", headers=headers), 422)

    def test_mark_read_once(self, client, factory, mongo):
        patient = factory.patient()
        headers = factory.headers(patient)
        nid = add_notification(mongo, patient, "a", 10)
        url = f"{INBOX.format('me')}/{nid}/read"
        first = client.post(url, headers=headers)
        assert first.status_code == 200
        read_at = first.get_json()["read_at"]
        assert read_at is not None
        again = client.post(url, headers=headers)
        assert again.get_json()["read_at"] == read_at
        assert mongo.notifications.find_one({"_id": nid})["read_at"] is not None

    def test_someone_elses_notification_is_404(self, client, factory, mongo):
        patient, other = factory.patient(), factory.patient()
        nid = add_notification(mongo, other, "a", 10)
        headers = factory.headers(patient)
        problem(client.post(f"{INBOX.format('me')}/{nid}/read", headers=headers), 404)
        problem(client.post(f"{INBOX.format('me')}/junk/read", headers=headers), 404)
        problem(client.get(INBOX.format(other.pk), headers=headers), 404)
        assert mongo.notifications.find_one({"_id": nid})["read_at"] is None

    def test_the_providers_copy_of_an_alert_is_not_the_patients_to_mark(
        self, client, factory, mongo
    ):
        patient, pcp = factory.patient(), factory.provider()
        factory.membership(patient, pcp)
        nid = add_notification(mongo, patient, "alert:x", 10)
        mongo.notifications.update_one(
            {"_id": nid}, {"$set": {"recipient": pcp.pk, "kind": "alert"}}
        )
        url = f"{INBOX.format('me')}/{nid}/read"
        problem(client.post(url, headers=factory.headers(patient)), 404)
        assert mongo.notifications.find_one({"_id": nid})["read_at"] is None
        # The provider marks nothing through the patient's inbox either.
        problem(
            client.post(url.replace("/me/", f"/{patient.pk}/"), headers=factory.headers(pcp)), 403
        )
        assert mongo.notifications.find_one({"_id": nid})["read_at"] is None

    def test_inbox_queries_use_indexes(self, client, factory, mongo):
        patient = factory.patient()
        add_notification(mongo, patient, "a", 10)
        client.get(INBOX.format("me"), headers=factory.headers(patient))
        mine = {"patient": patient.pk, "recipient": {"$in": [None, patient.pk]}}
        plan = mongo.notifications.find(mine).sort("created_at", -1).explain()
        assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"])


def test_a_new_device_receives_reminders_already_planned(client, factory, mongo):
    from api.clock import utcnow
    from api.services.reminders import planning as reminders
    from tests.test_reminders import walk

    patient = factory.patient()
    factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
    reminders.plan_all(utcnow())
    assert {o["has_devices"] for o in mongo.reminder_occurrences.find()} == {False}
    response = client.post(
        DEVICES.format("me"),
        json={"platform": "ios", "token": TOKEN},
        headers=factory.headers(patient),
    )
    assert response.status_code == 201
    assert {o["has_devices"] for o in mongo.reminder_occurrences.find()} == {True}
