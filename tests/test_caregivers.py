"""Caregiver grants through HTTP: issuing, redeeming, listing, ending, expiry, the access log."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.services.common.codes import code_hash
from api.services.identity import caregivers
from tests.test_foundation import assert_problem

API = "/api/v1"


def today_in(zone: str):
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def issue(client, headers, pid, **body):
    body.setdefault("relationship", "parent")
    body.setdefault("permissions", ["view"])
    return client.post(f"{API}/patients/{pid}/caregivers", json=body, headers=headers)


def redeem(client, headers, code):
    return client.post(f"{API}/me/dependants", json={"code": code}, headers=headers)


@pytest.fixture
def people(factory):
    patient = factory.patient(timezone="Europe/Oslo", name="Ada Patient")
    provider = factory.provider()
    factory.membership(patient, provider)
    caregiver = factory.patient(name="Carl Carer")
    return patient, provider, caregiver


def join(client, factory, patient, caregiver, **body):
    response = issue(client, factory.headers(patient), patient.pk, **body)
    assert response.status_code == 201, response.get_json()
    joined = redeem(client, factory.headers(caregiver), response.get_json()["code"])
    assert joined.status_code == 201, joined.get_json()
    return response.get_json()["id"]


class TestIssuing:
    def test_a_patient_issues_a_one_time_code_stored_only_hashed(
        self, client, factory, people, mongo
    ):
        patient, _, _ = people
        started = datetime.now(UTC)
        response = issue(client, factory.headers(patient), "me", permissions=["log"])
        assert response.status_code == 201
        body = response.get_json()
        assert body["status"] == "pending"
        assert body["permissions"] == ["view", "log"]
        assert len(body["code"]) == 10
        expires_at = datetime.fromisoformat(body["expires_at"])
        assert timedelta(days=7) <= expires_at - started < timedelta(days=7, minutes=1)
        stored = mongo.caregiver_grants.find_one()
        assert str(stored["_id"]) == body["id"]
        assert stored["code_hash"] == code_hash(body["code"])
        assert body["code"] not in str(stored)
        assert stored["status"] == "pending" and "caregiver" not in stored

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"permissions": ["admin"]}, "permissions.0"),
            ({"permissions": []}, "permissions"),
            ({"permissions": "view"}, "permissions"),
            ({"permissions": ["view"] * 4}, "permissions"),
            ({"relationship": "boss"}, "relationship"),
            ({"relationship": None}, "relationship"),
            ({"expires_on": "2020-01-01"}, "expires_on"),
            ({"expires_on": "tomorrow"}, "expires_on"),
            ({"expires_on": 20300101}, "expires_on"),
            ({"pin": "1234"}, "pin"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(
        self, client, factory, people, mongo, body, field
    ):
        patient, _, _ = people
        response = issue(client, factory.headers(patient), "me", **body)
        problem = assert_problem(response, 422)
        assert field in problem["errors"]
        assert mongo.caregiver_grants.count_documents({}) == 0

    def test_expires_on_yesterday_in_the_patients_zone_is_refused(self, client, factory, mongo):
        patient = factory.patient(timezone="Pacific/Kiritimati")
        yesterday = today_in("Pacific/Kiritimati") - timedelta(days=1)
        response = issue(client, factory.headers(patient), "me", expires_on=str(yesterday))
        assert "expires_on" in assert_problem(response, 422)["errors"]
        today = issue(
            client, factory.headers(patient), "me", expires_on=str(today_in("Pacific/Kiritimati"))
        )
        assert today.status_code == 201
        assert mongo.caregiver_grants.count_documents({}) == 1

    def test_a_caregiver_with_manage_grants_no_longer_than_it_holds(
        self, client, factory, people, mongo
    ):
        patient, _, caregiver = people
        ends = today_in("Europe/Oslo") + timedelta(days=10)
        join(client, factory, patient, caregiver, permissions=["manage"], expires_on=str(ends))
        headers = factory.headers(caregiver)
        for expires_on in (None, str(ends + timedelta(days=1))):
            response = issue(client, headers, patient.pk, expires_on=expires_on)
            assert "expires_on" in assert_problem(response, 422)["errors"]
        assert mongo.caregiver_grants.count_documents({}) == 1
        response = issue(client, headers, patient.pk, permissions=["manage"], expires_on=str(ends))
        assert response.status_code == 201
        issued = mongo.caregiver_grants.find_one({"status": "pending"})
        assert issued["created_by"] == caregiver.pk

    @pytest.mark.parametrize("permission", ["view", "log"])
    def test_a_caregiver_without_manage_cannot_issue(
        self, client, factory, people, mongo, permission
    ):
        patient, _, caregiver = people
        join(client, factory, patient, caregiver, permissions=[permission])
        response = issue(client, factory.headers(caregiver), patient.pk)
        assert "manage" in assert_problem(response, 403)["detail"]
        assert mongo.caregiver_grants.count_documents({}) == 1

    def test_strangers_get_404(self, client, factory, people, mongo):
        patient, _, caregiver = people
        assert_problem(issue(client, factory.headers(caregiver), patient.pk), 404)
        assert_problem(issue(client, factory.headers(factory.provider()), patient.pk), 404)
        assert mongo.caregiver_grants.count_documents({}) == 0


class TestRedeeming:
    def test_the_grant_becomes_active_for_the_caller(self, client, factory, people, mongo):
        patient, _, caregiver = people
        code = issue(client, factory.headers(patient), "me", permissions=["log"]).get_json()
        response = redeem(client, factory.headers(caregiver), code["code"])
        assert response.status_code == 201
        body = response.get_json()
        assert body["patient_id"] == str(patient.pk)
        assert body["grant_id"] == code["id"]
        assert body["name"] == "Ada Patient"
        assert body["relationship"] == "parent"
        assert body["permissions"] == ["view", "log"]
        assert body["minor"] is False
        stored = mongo.caregiver_grants.find_one()
        assert stored["status"] == "active" and stored["caregiver"] == caregiver.pk
        care_team = client.get(
            f"{API}/patients/{patient.pk}/care-team", headers=factory.headers(caregiver)
        )
        assert care_team.status_code == 200

    def test_a_code_works_once(self, client, factory, people, mongo):
        patient, _, caregiver = people
        code = issue(client, factory.headers(patient), "me").get_json()["code"]
        assert redeem(client, factory.headers(caregiver), code).status_code == 201
        for who in (caregiver, factory.patient()):
            again = redeem(client, factory.headers(who), code)
            assert "code" in assert_problem(again, 422)["errors"]
        stored = mongo.caregiver_grants.find_one()
        assert stored["caregiver"] == caregiver.pk
        assert mongo.caregiver_grants.count_documents({"status": "active"}) == 1

    @pytest.mark.parametrize("code", ["NOSUCHCODE", "abcd", "x" * 64])
    def test_unknown_codes_are_422(self, client, factory, people, mongo, code):
        _, _, caregiver = people
        response = redeem(client, factory.headers(caregiver), code)
        assert "code" in assert_problem(response, 422)["errors"]
        assert mongo.caregiver_grants.count_documents({}) == 0

    @pytest.mark.parametrize(
        "body", [{}, {"code": 12345678}, {"code": "x" * 65}, {"code": "ABCD", "x": 1}]
    )
    def test_malformed_bodies_are_422(self, client, factory, people, body):
        _, _, caregiver = people
        response = client.post(
            f"{API}/me/dependants", json=body, headers=factory.headers(caregiver)
        )
        assert_problem(response, 422)

    def test_an_expired_code_is_refused(self, client, factory, people, mongo):
        patient, _, caregiver = people
        code = issue(client, factory.headers(patient), "me").get_json()["code"]
        mongo.caregiver_grants.update_one(
            {}, {"$set": {"code_expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
        )
        response = redeem(client, factory.headers(caregiver), code)
        assert "expired" in assert_problem(response, 422)["errors"]["code"][0]
        assert mongo.caregiver_grants.find_one()["status"] == "pending"

    def test_a_patient_cannot_redeem_their_own_code(self, client, factory, people, mongo):
        patient, _, _ = people
        code = issue(client, factory.headers(patient), "me").get_json()["code"]
        response = redeem(client, factory.headers(patient), code)
        assert "code" in assert_problem(response, 422)["errors"]
        assert mongo.caregiver_grants.find_one()["status"] == "pending"

    def test_a_patient_can_be_a_caregiver_too(self, client, factory, people):
        patient, _, _ = people
        mother = factory.patient(name="Mother")
        join(client, factory, patient, mother)
        headers = factory.headers(mother)
        assert client.get(f"{API}/patients/me/care-team", headers=headers).status_code == 200
        dependants = client.get(f"{API}/me/dependants", headers=headers).get_json()
        assert [d["patient_id"] for d in dependants] == [str(patient.pk)]

    def test_a_newer_grant_replaces_the_earlier_one(self, client, factory, people, mongo):
        patient, _, caregiver = people
        first = join(client, factory, patient, caregiver, permissions=["view"])
        second = join(client, factory, patient, caregiver, permissions=["log"])
        statuses = {str(g["_id"]): g["status"] for g in mongo.caregiver_grants.find()}
        assert statuses == {first: "ended", second: "active"}
        dependants = client.get(f"{API}/me/dependants", headers=factory.headers(caregiver))
        assert [(d["grant_id"], d["permissions"]) for d in dependants.get_json()] == [
            (second, ["view", "log"])
        ]


class TestListing:
    def test_who_sees_the_grants(self, client, factory, people):
        patient, provider, caregiver = people
        grant_id = join(client, factory, patient, caregiver, permissions=["manage"])
        viewer = factory.patient()
        join(client, factory, patient, viewer)
        pending = issue(client, factory.headers(patient), "me").get_json()["id"]
        url = f"{API}/patients/{patient.pk}/caregivers"
        for who in (patient, provider, caregiver):
            response = client.get(url, headers=factory.headers(who))
            assert response.status_code == 200
            grants = {g["id"]: g for g in response.get_json()}
            assert grants[pending]["status"] == "pending"
            assert grants[pending]["caregiver"] is None
            assert grants[grant_id]["caregiver"] == {"id": str(caregiver.pk), "name": "Carl Carer"}
            assert grants[grant_id]["permissions"] == ["view", "log", "manage"]
            assert "code" not in grants[pending]
            assert "X-Pagination" in response.headers
        assert_problem(client.get(url, headers=factory.headers(viewer)), 403)
        assert_problem(client.get(url, headers=factory.headers(factory.patient())), 404)

    def test_an_expired_grant_reads_as_expired(self, client, factory, people, mongo):
        patient, _, caregiver = people
        grant_id = join(client, factory, patient, caregiver)
        mongo.caregiver_grants.update_one(
            {},
            {
                "$set": {
                    "expires_on": datetime.combine(
                        today_in("Europe/Oslo") - timedelta(days=1), datetime.min.time()
                    )
                }
            },
        )
        grants = client.get(f"{API}/patients/me/caregivers", headers=factory.headers(patient))
        assert [(g["id"], g["status"]) for g in grants.get_json()] == [(grant_id, "expired")]
        dependants = client.get(f"{API}/me/dependants", headers=factory.headers(caregiver))
        assert dependants.get_json() == []


class TestEnding:
    def test_revocation_takes_effect_on_the_very_next_request(self, client, factory, people, mongo):
        patient, _, caregiver = people
        grant_id = join(client, factory, patient, caregiver, permissions=["manage"])
        headers = factory.headers(caregiver)
        url = f"{API}/patients/{patient.pk}/care-team"
        assert client.get(url, headers=headers).status_code == 200
        ended = client.delete(
            f"{API}/patients/me/caregivers/{grant_id}", headers=factory.headers(patient)
        )
        assert ended.status_code == 204
        assert_problem(client.get(url, headers=headers), 404)
        assert client.get(f"{API}/me/dependants", headers=headers).get_json() == []
        stored = mongo.caregiver_grants.find_one()
        assert stored["status"] == "ended" and stored["ended_by"] == patient.pk
        again = client.delete(
            f"{API}/patients/me/caregivers/{grant_id}", headers=factory.headers(patient)
        )
        assert_problem(again, 409)

    def test_a_caregiver_ends_their_own_grant_but_not_anothers(
        self, client, factory, people, mongo
    ):
        patient, _, caregiver = people
        own = join(client, factory, patient, caregiver)
        other = join(client, factory, patient, factory.patient())
        headers = factory.headers(caregiver)
        refused = client.delete(f"{API}/patients/{patient.pk}/caregivers/{other}", headers=headers)
        assert_problem(refused, 403)
        assert mongo.caregiver_grants.count_documents({"status": "active"}) == 2
        ended = client.delete(f"{API}/patients/{patient.pk}/caregivers/{own}", headers=headers)
        assert ended.status_code == 204
        assert_problem(client.get(f"{API}/patients/{patient.pk}/care-team", headers=headers), 404)

    def test_a_pending_code_can_be_withdrawn(self, client, factory, people, mongo):
        patient, _, caregiver = people
        pending = issue(client, factory.headers(patient), "me").get_json()
        ended = client.delete(
            f"{API}/patients/me/caregivers/{pending['id']}", headers=factory.headers(patient)
        )
        assert ended.status_code == 204
        response = redeem(client, factory.headers(caregiver), pending["code"])
        assert_problem(response, 422)

    @pytest.mark.parametrize("gid", ["nope", "0" * 24])
    def test_unknown_grants_are_404(self, client, factory, people, gid):
        patient, _, _ = people
        response = client.delete(
            f"{API}/patients/me/caregivers/{gid}", headers=factory.headers(patient)
        )
        assert_problem(response, 404)

    def test_another_patients_grant_is_404(self, client, factory, people):
        patient, _, caregiver = people
        other_patient = factory.patient()
        grant_id = join(client, factory, other_patient, caregiver)
        response = client.delete(
            f"{API}/patients/me/caregivers/{grant_id}", headers=factory.headers(patient)
        )
        assert_problem(response, 404)

    def test_erasing_the_patient_ends_every_grant(self, client, factory, people, mongo):
        patient, _, caregiver = people
        join(client, factory, patient, caregiver, permissions=["manage"])
        pending = issue(client, factory.headers(patient), "me").get_json()["code"]
        unrelated = join(client, factory, factory.patient(), caregiver)
        now = datetime.now(UTC)
        assert caregivers.end_all_for_patient(patient.pk, now) == 2
        assert (
            mongo.caregiver_grants.count_documents({"patient": patient.pk, "status": "ended"}) == 2
        )
        headers = factory.headers(caregiver)
        assert_problem(client.get(f"{API}/patients/{patient.pk}/care-team", headers=headers), 404)
        assert_problem(redeem(client, factory.headers(factory.patient()), pending), 422)
        dependants = client.get(f"{API}/me/dependants", headers=headers).get_json()
        assert [d["grant_id"] for d in dependants] == [unrelated]


class TestAccessLog:
    def test_the_patient_sees_caregiver_reads_and_writes(self, client, factory, people):
        patient, _, caregiver = people
        join(client, factory, patient, caregiver, permissions=["manage"])
        headers = factory.headers(caregiver)
        assert (
            client.get(f"{API}/patients/{patient.pk}/care-team", headers=headers).status_code == 200
        )
        assert issue(client, headers, patient.pk).status_code == 201
        log = client.get(f"{API}/patients/me/access-log", headers=factory.headers(patient))
        assert log.status_code == 200
        entries = [
            (e["action"], e["relation"]) for e in log.get_json() if e["actor"] == str(caregiver.pk)
        ]
        assert entries == [
            ("POST /api/v1/patients/<pid>/caregivers", "caregiver"),
            ("GET /api/v1/patients/<pid>/care-team", "caregiver"),
        ]
        refused = client.get(f"{API}/patients/{patient.pk}/access-log", headers=headers)
        assert_problem(refused, 403)
