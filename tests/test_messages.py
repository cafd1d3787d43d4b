"""The care-team thread through HTTP: one thread per patient, the patient notified once per
provider message, unread counts per provider until they read, bad input and access."""

import json

import pytest

from api.clock import utcnow
from api.errors import PROBLEM_JSON
from api.services.care import care_team
from api.services.clinic import messages
from api.services.flows import memberships


def join(patient, provider, role="primary"):
    code = care_team.create_invitation(provider.pk, role=role, valid_days=7, now=utcnow())
    return memberships.join_with_code(patient, code["code"], now=utcnow())


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()


@pytest.fixture
def team(factory):
    patient = factory.patient(name="Pat Jones")
    primary = factory.provider(name="Dr Ada Moss")
    endo = factory.provider(name="Dr Ben Kurt", specialty="endocrinology")
    join(patient, primary)
    join(patient, endo, role="specialist")
    return patient, primary, endo


def post(client, factory, user, patient, body):
    return client.post(
        f"/api/v1/patients/{patient.pk}/messages", json=body, headers=factory.headers(user)
    )


def unread(mongo, patient, provider) -> int:
    thread = mongo.message_threads.find_one({"_id": patient.pk}) or {}
    return (thread.get("unread") or {}).get(str(provider.pk), 0)


class TestThread:
    def test_a_provider_message_notifies_the_patient_once(self, client, factory, team, mongo):
        patient, primary, endo = team
        response = post(client, factory, primary, patient, {"body": "Your results look good."})
        assert response.status_code == 201
        message = response.get_json()
        assert message["body"] == "Your results look good."
        assert message["author"] == {
            "id": str(primary.pk),
            "name": "Dr Ada Moss",
            "role": "provider",
            "relation": "team",
        }
        [notification] = list(mongo.notifications.find({"patient": patient.pk}))
        assert notification["kind"] == "message"
        assert notification["key"] == f"message:{message['id']}"
        assert notification["title"] == "New message from Dr Ada Moss"
        assert "results" not in notification["body"]  # the text stays in the app
        inbox = client.get(
            "/api/v1/patients/me/notifications", headers=factory.headers(patient)
        ).get_json()
        assert [n["kind"] for n in inbox] == ["message"]
        # The author has nothing unread; the other provider has one.
        assert (unread(mongo, patient, primary), unread(mongo, patient, endo)) == (0, 1)

    def test_a_patient_message_is_unread_for_every_provider_until_each_reads(
        self, client, factory, team, mongo
    ):
        patient, primary, endo = team
        for text in ("My readings were high.", "Should I change the dose?"):
            assert post(client, factory, patient, patient, {"body": text}).status_code == 201
        assert mongo.notifications.count_documents({}) == 0  # nobody's own message notifies
        assert (unread(mongo, patient, primary), unread(mongo, patient, endo)) == (2, 2)
        assert messages.unread_for(endo.pk, patient.pk) == 2

        response = client.get(
            f"/api/v1/patients/{patient.pk}/messages", headers=factory.headers(endo)
        )
        assert response.status_code == 200
        assert [m["body"] for m in response.get_json()] == [
            "Should I change the dose?",
            "My readings were high.",
        ]
        assert (unread(mongo, patient, primary), unread(mongo, patient, endo)) == (2, 0)
        # The patient reading their own thread changes nobody's count.
        client.get("/api/v1/patients/me/messages", headers=factory.headers(patient))
        assert unread(mongo, patient, primary) == 2

    def test_the_thread_is_paginated_newest_first(self, client, factory, team):
        patient, primary, _ = team
        for n in range(5):
            post(client, factory, primary, patient, {"body": f"Message {n}"})
        response = client.get(
            "/api/v1/patients/me/messages?page_size=2&page=2", headers=factory.headers(patient)
        )
        assert json.loads(response.headers["X-Pagination"])["total"] == 5
        assert [m["body"] for m in response.get_json()] == ["Message 2", "Message 1"]

    def test_a_provider_who_joins_later_sees_the_thread_and_counts_from_then(
        self, client, factory, team, mongo
    ):
        patient, primary, _ = team
        post(client, factory, patient, patient, {"body": "Hello"})
        cardio = factory.provider(specialty="cardiology")
        join(patient, cardio, role="specialist")
        response = client.get(
            f"/api/v1/patients/{patient.pk}/messages", headers=factory.headers(cardio)
        )
        assert [m["body"] for m in response.get_json()] == ["Hello"]
        post(client, factory, patient, patient, {"body": "Welcome"})
        assert unread(mongo, patient, cardio) == 1
        assert unread(mongo, patient, primary) == 2


class TestCaregivers:
    def test_a_caregiver_writes_with_manage_and_reads_with_view(self, client, factory, team, mongo):
        patient, primary, _ = team
        viewer, manager = factory.patient(), factory.patient(name="Mum")
        factory.grant(patient, viewer, permissions=("view",))
        factory.grant(patient, manager, permissions=("view", "log", "manage"))
        assert_problem(post(client, factory, viewer, patient, {"body": "Hi"}), 403)
        response = post(client, factory, manager, patient, {"body": "He has a fever."})
        assert response.status_code == 201
        assert response.get_json()["author"]["relation"] == "caregiver"
        listed = client.get(
            f"/api/v1/patients/{patient.pk}/messages", headers=factory.headers(viewer)
        )
        assert [m["author"]["name"] for m in listed.get_json()] == ["Mum"]
        assert unread(mongo, patient, primary) == 1
        assert mongo.messages.count_documents({}) == 1


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "body"),
            ({"body": ""}, "body"),
            ({"body": "   \n "}, "body"),
            ({"body": "x" * 2001}, "body"),
            ({"body": 42}, "body"),
            ({"body": "Hi", "to": "everyone"}, "to"),
        ],
    )
    def test_invalid_messages_are_422_and_nothing_is_stored(
        self, client, factory, team, mongo, body, field
    ):
        patient, primary, _ = team
        problem = assert_problem(post(client, factory, primary, patient, body), 422)
        assert field in problem["errors"]
        assert mongo.messages.count_documents({}) == 0
        assert mongo.notifications.count_documents({}) == 0

    def test_the_longest_message_is_accepted(self, client, factory, team):
        patient, primary, _ = team
        response = post(client, factory, primary, patient, {"body": "x" * 2000})
        assert response.status_code == 201


class TestAccess:
    def test_strangers_ended_and_pending_members_get_404(self, client, factory, team, mongo):
        patient, _primary, _ = team
        stranger, ended, pending = factory.provider(), factory.provider(), factory.provider()
        factory.membership(patient, ended, status="ended")
        factory.membership(patient, pending, status="pending")
        other_patient = factory.patient()
        for user in (stranger, ended, pending, other_patient):
            headers = factory.headers(user)
            url = f"/api/v1/patients/{patient.pk}/messages"
            assert_problem(client.get(url, headers=headers), 404)
            assert_problem(client.post(url, json={"body": "Hi"}, headers=headers), 404)
        assert mongo.messages.count_documents({}) == 0
