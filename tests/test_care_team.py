"""The care team: invitations, joining with a code, referrals, approval, ending; the access log."""

import hashlib
import json
from datetime import timedelta

import pytest

from api.clock import utcnow
from tests.mail_helpers import mailed_code
from tests.test_foundation import assert_problem

INVITATIONS = "/api/v1/invitations"
REGISTER = "/api/v1/auth/register"


def team_url(pid) -> str:
    return f"/api/v1/patients/{pid}/care-team"


def invite(client, factory, provider, **body) -> str:
    response = client.post(INVITATIONS, json=body, headers=factory.headers(provider))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["code"]


def join(client, factory, patient, code):
    return client.post(team_url("me"), json={"code": code}, headers=factory.headers(patient))


def refer(client, factory, referrer, patient, specialist, **extra):
    body = {"provider_id": str(specialist.pk), "role": "specialist", "reason": "HbA1c 9.1%"}
    return client.post(
        team_url(patient.pk), json={**body, **extra}, headers=factory.headers(referrer)
    )


def memberships(mongo, patient) -> list[dict]:
    return list(mongo.care_team_members.find({"patient": patient.pk}))


class TestInvitations:
    def test_a_provider_creates_a_one_time_code_stored_only_hashed(self, client, mongo, factory):
        provider = factory.provider()
        before = utcnow()
        response = client.post(INVITATIONS, json={}, headers=factory.headers(provider))
        assert response.status_code == 201
        body = response.get_json()
        assert len(body["code"]) >= 8 and body["role"] == "primary"
        assert body["expires_at"].endswith("Z")
        stored = mongo.invitations.find_one()
        assert stored["code_hash"] == hashlib.sha256(body["code"].encode()).hexdigest()
        assert body["code"] not in json.dumps(stored, default=str)
        assert stored["provider"] == provider.pk
        expires = stored["expires_at"]
        assert timedelta(days=7) <= expires - before <= timedelta(days=7, minutes=1)

    def test_codes_are_different_every_time(self, client, factory):
        provider = factory.provider()
        codes = {invite(client, factory, provider) for _ in range(5)}
        assert len(codes) == 5

    def test_validity_and_role_can_be_chosen(self, client, mongo, factory):
        provider = factory.provider()
        response = client.post(
            INVITATIONS, json={"valid_days": 1, "role": "nurse"}, headers=factory.headers(provider)
        )
        assert response.status_code == 201 and response.get_json()["role"] == "nurse"
        assert mongo.invitations.find_one()["role"] == "nurse"

    @pytest.mark.parametrize("role", ["patient", "admin"])
    def test_only_providers_create_invitations(self, client, mongo, factory, role):
        response = client.post(INVITATIONS, json={}, headers=factory.headers(factory.user(role)))
        assert_problem(response, 403)
        assert_problem(client.post(INVITATIONS, json={}), 401)
        assert mongo.invitations.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"valid_days": 0}, "valid_days"),
            ({"valid_days": 31}, "valid_days"),
            ({"valid_days": "week"}, "valid_days"),
            ({"role": "boss"}, "role"),
            ({"code": "ABCDEFGHJK"}, "code"),
        ],
    )
    def test_bad_invitation_bodies_are_422(self, client, mongo, factory, body, field):
        response = client.post(INVITATIONS, json=body, headers=factory.headers(factory.provider()))
        assert field in assert_problem(response, 422)["errors"]
        assert mongo.invitations.count_documents({}) == 0


class TestJoining:
    def test_a_patient_joins_with_a_code_and_the_provider_gains_access(
        self, client, mongo, factory
    ):
        provider = factory.provider(name="Dr. Priya", specialty="primary care")
        patient = factory.patient()
        assert_problem(client.get(team_url(patient.pk), headers=factory.headers(provider)), 404)

        response = join(client, factory, patient, invite(client, factory, provider))
        assert response.status_code == 201, response.get_json()
        member = response.get_json()
        assert member["status"] == "active" and member["role"] == "primary"
        assert member["provider"] == {
            "id": str(provider.pk),
            "name": "Dr. Priya",
            "specialty": "primary care",
        }
        assert member["specialty"] == "primary care"
        [stored] = memberships(mongo, patient)
        assert stored["provider"] == provider.pk and stored["status"] == "active"
        assert mongo.invitations.find_one()["used_by"] == patient.pk

        listed = client.get(team_url(patient.pk), headers=factory.headers(provider))
        assert listed.status_code == 200
        assert [m["id"] for m in listed.get_json()] == [member["id"]]

    def test_a_code_works_once(self, client, mongo, factory):
        provider = factory.provider()
        code = invite(client, factory, provider)
        first, second = factory.patient(), factory.patient()
        assert join(client, factory, first, code).status_code == 201
        body = assert_problem(join(client, factory, second, code), 422)
        assert "code" in body["errors"]
        assert memberships(mongo, second) == []
        assert_problem(client.get(team_url(second.pk), headers=factory.headers(provider)), 404)

    def test_an_expired_code_is_422_naming_code(self, client, mongo, factory):
        provider = factory.provider()
        code = invite(client, factory, provider, valid_days=1)
        mongo.invitations.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
        patient = factory.patient()
        body = assert_problem(join(client, factory, patient, code), 422)
        assert "expired" in body["errors"]["code"][0]
        assert memberships(mongo, patient) == []
        assert mongo.invitations.find_one().get("used_at") is None

    def test_codes_are_forgiving_about_case_dashes_and_spaces(self, client, factory):
        code = invite(client, factory, factory.provider())
        typed = f" {code[:5].lower()}-{code[5:]} "
        assert join(client, factory, factory.patient(), typed).status_code == 201

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"code": "NOPE-NOPE-NOPE"}, "code"),
            ({"code": "abc"}, "code"),
            ({"code": "x" * 65}, "code"),
            ({"code": 12345678}, "code"),
            ({}, "_body"),
            ({"code": "ABCDEFGHJK", "provider_id": "x"}, "_body"),
            ({"code": "ABCDEFGHJK", "colour": "red"}, "colour"),
        ],
    )
    def test_bad_join_bodies_are_422_and_store_nothing(self, client, mongo, factory, body, field):
        patient = factory.patient()
        response = client.post(team_url("me"), json=body, headers=factory.headers(patient))
        assert field in assert_problem(response, 422)["errors"]
        assert memberships(mongo, patient) == []

    def test_joining_a_provider_twice_keeps_one_membership(self, client, mongo, factory):
        provider, patient = factory.provider(), factory.patient()
        first = join(client, factory, patient, invite(client, factory, provider)).get_json()
        again = join(client, factory, patient, invite(client, factory, provider))
        assert again.status_code == 201 and again.get_json()["id"] == first["id"]
        assert len(memberships(mongo, patient)) == 1

    def test_a_provider_cannot_join_on_a_patients_behalf(self, client, mongo, factory):
        provider, patient = factory.provider(), factory.patient()
        factory.membership(patient, provider)
        code = invite(client, factory, factory.provider())
        headers = factory.headers(provider)
        assert_problem(client.post(team_url("me"), json={"code": code}, headers=headers), 404)
        response = client.post(team_url(patient.pk), json={"code": code}, headers=headers)
        assert_problem(response, 403)
        assert len(memberships(mongo, patient)) == 1
        assert mongo.invitations.find_one().get("used_at") is None


class TestRegisterWithInviteCode:
    def body(self, **extra):
        return {"email": "new@example.org", "password": "long enough pw", "name": "New", **extra}

    def test_a_bad_code_is_422_naming_invite_code_and_no_account_is_created(
        self, client, mongo, factory
    ):
        body = assert_problem(client.post(REGISTER, json=self.body(invite_code="WRONGCODE1")), 422)
        assert list(body["errors"]) == ["invite_code"]
        assert mongo.users.count_documents({}) == 0

    def test_a_used_or_expired_code_is_422_and_no_account_is_created(self, client, mongo, factory):
        provider = factory.provider()
        used = invite(client, factory, provider)
        join(client, factory, factory.patient(), used)
        expired = invite(client, factory, provider)
        mongo.invitations.update_one(
            {"used_at": None}, {"$set": {"expires_at": utcnow() - timedelta(minutes=1)}}
        )
        for code in (used, expired):
            response = client.post(REGISTER, json=self.body(invite_code=code))
            assert "invite_code" in assert_problem(response, 422)["errors"]
        assert mongo.users.count_documents({"email": "new@example.org"}) == 0

    def test_a_code_redeemed_by_someone_else_before_verifying_leaves_the_account_alone(
        self, client, mongo, factory, smtp_server
    ):
        code = invite(client, factory, factory.provider())
        assert client.post(REGISTER, json=self.body(invite_code=code)).status_code == 202
        join(client, factory, factory.patient(), code)
        smtp_server.deliver_outbox()
        mailed = mailed_code(smtp_server.to("new@example.org")[-1])
        response = client.post(
            "/api/v1/auth/verify-email", json={"email": "new@example.org", "code": mailed}
        )
        assert response.status_code == 200
        assert response.get_json()["care_team_joined"] is False
        user = mongo.users.find_one({"email": "new@example.org"})
        assert mongo.care_team_members.count_documents({"patient": user["_id"]}) == 0

    def test_a_taken_email_leaves_the_code_unused(self, client, mongo, factory):
        code = invite(client, factory, factory.provider())
        factory.patient(email="new@example.org")
        assert client.post(REGISTER, json=self.body(invite_code=code)).status_code == 202
        assert mongo.invitations.find_one().get("used_at") is None


class TestReferrals:
    def setup_team(self, factory):
        pcp = factory.provider(specialty="primary care")
        endo = factory.provider(specialty="endocrinology", name="Dr. Endo")
        patient = factory.patient()
        factory.membership(patient, pcp)
        return pcp, endo, patient

    def test_a_referral_stays_pending_until_the_patient_approves(self, client, mongo, factory):
        pcp, endo, patient = self.setup_team(factory)
        response = refer(client, factory, pcp, patient, endo)
        assert response.status_code == 201, response.get_json()
        member = response.get_json()
        assert member["status"] == "pending" and member["role"] == "specialist"
        assert member["specialty"] == "endocrinology" and member["reason"] == "HbA1c 9.1%"
        stored = mongo.care_team_members.find_one({"provider": endo.pk})
        assert stored["referred_by"] == pcp.pk and stored["status"] == "pending"

        # Pending: the specialist sees nothing yet, not even that the patient exists.
        assert_problem(client.get(team_url(patient.pk), headers=factory.headers(endo)), 404)

        approve = f"{team_url('me')}/{member['id']}/approve"
        approved = client.post(approve, headers=factory.headers(patient))
        assert approved.status_code == 200
        assert approved.get_json()["status"] == "active"
        assert approved.get_json()["activated_at"].endswith("Z")
        assert client.get(team_url(patient.pk), headers=factory.headers(endo)).status_code == 200

        again = client.post(approve, headers=factory.headers(patient))
        assert "pending" in assert_problem(again, 409)["detail"]

    def test_only_the_patient_approves(self, client, mongo, factory):
        pcp, endo, patient = self.setup_team(factory)
        member = refer(client, factory, pcp, patient, endo).get_json()
        approve = f"{team_url(patient.pk)}/{member['id']}/approve"
        assert_problem(client.post(approve, headers=factory.headers(pcp)), 403)
        assert_problem(client.post(approve, headers=factory.headers(endo)), 404)
        assert_problem(client.post(approve, headers=factory.headers(factory.patient())), 404)
        assert mongo.care_team_members.find_one({"provider": endo.pk})["status"] == "pending"

    def test_approving_an_unknown_or_someone_elses_membership_is_404(self, client, factory):
        pcp, endo, patient = self.setup_team(factory)
        other = factory.patient()
        factory.membership(other, pcp)
        theirs = refer(client, factory, pcp, other, endo).get_json()["id"]
        for member_id in (theirs, "0123456789abcdef01234567", "not-an-id"):
            url = f"{team_url('me')}/{member_id}/approve"
            assert_problem(client.post(url, headers=factory.headers(patient)), 404)

    def test_referring_someone_already_on_the_team_is_409(self, client, mongo, factory):
        pcp, endo, patient = self.setup_team(factory)
        assert refer(client, factory, pcp, patient, endo).status_code == 201
        assert_problem(refer(client, factory, pcp, patient, endo), 409)
        assert_problem(refer(client, factory, pcp, patient, pcp), 409)
        assert len(memberships(mongo, patient)) == 2

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            ({"provider_id": "0123456789abcdef01234567"}, "provider_id"),
            ({"provider_id": "not-an-object-id"}, "provider_id"),
            ({"provider_id": "x" * 65}, "provider_id"),
            ({"role": "surgeon"}, "role"),
            ({"reason": "r" * 1001}, "reason"),
            ({"priority": "high"}, "priority"),
        ],
    )
    def test_bad_referrals_are_422_and_store_nothing(self, client, mongo, factory, extra, field):
        pcp, endo, patient = self.setup_team(factory)
        response = refer(client, factory, pcp, patient, endo, **extra)
        assert field in assert_problem(response, 422)["errors"]
        assert len(memberships(mongo, patient)) == 1

    def test_a_patient_id_is_not_a_provider(self, client, factory):
        pcp, _, patient = self.setup_team(factory)
        response = refer(client, factory, pcp, patient, factory.patient())
        assert "provider_id" in assert_problem(response, 422)["errors"]

    def test_only_a_provider_on_the_team_refers(self, client, mongo, factory):
        _pcp, endo, patient = self.setup_team(factory)
        assert_problem(refer(client, factory, patient, patient, endo), 403)
        assert_problem(refer(client, factory, factory.provider(), patient, endo), 404)
        assert len(memberships(mongo, patient)) == 1


class TestEnding:
    def test_the_patient_ends_a_membership_and_access_stops_at_once(self, client, mongo, factory):
        provider, patient = factory.provider(), factory.patient()
        member = factory.membership(patient, provider)
        headers = factory.headers(provider)
        assert client.get(team_url(patient.pk), headers=headers).status_code == 200
        response = client.delete(f"{team_url('me')}/{member.pk}", headers=factory.headers(patient))
        assert response.status_code == 204 and response.data == b""
        assert_problem(client.get(team_url(patient.pk), headers=headers), 404)
        stored = mongo.care_team_members.find_one({"_id": member.pk})
        assert stored["status"] == "ended" and stored["ended_by"] == patient.pk
        assert stored["ended_at"] and "open" not in stored

    def test_a_provider_ends_their_own_membership(self, client, factory):
        provider, patient = factory.provider(), factory.patient()
        member = factory.membership(patient, provider)
        headers = factory.headers(provider)
        response = client.delete(f"{team_url(patient.pk)}/{member.pk}", headers=headers)
        assert response.status_code == 204
        assert_problem(client.get(team_url(patient.pk), headers=headers), 404)
        assert_problem(client.delete(f"{team_url(patient.pk)}/{member.pk}", headers=headers), 404)

    def test_another_provider_on_the_team_may_not_end_it(self, client, mongo, factory):
        pcp, cardio, patient = factory.provider(), factory.provider(), factory.patient()
        member = factory.membership(patient, pcp)
        factory.membership(patient, cardio, role="specialist")
        response = client.delete(
            f"{team_url(patient.pk)}/{member.pk}", headers=factory.headers(cardio)
        )
        assert_problem(response, 403)
        assert mongo.care_team_members.find_one({"_id": member.pk})["status"] == "active"
        assert client.get(team_url(patient.pk), headers=factory.headers(pcp)).status_code == 200

    def test_ending_twice_is_409(self, client, factory):
        provider, patient = factory.provider(), factory.patient()
        member = factory.membership(patient, provider)
        url, headers = f"{team_url('me')}/{member.pk}", factory.headers(patient)
        assert client.delete(url, headers=headers).status_code == 204
        assert_problem(client.delete(url, headers=headers), 409)
        assert_problem(client.delete(f"{team_url('me')}/bogus", headers=headers), 404)

    def test_a_patient_may_decline_a_pending_referral_by_ending_it(self, client, factory):
        pcp, endo, patient = factory.provider(), factory.provider(), factory.patient()
        factory.membership(patient, pcp)
        member = refer(client, factory, pcp, patient, endo).get_json()
        url = f"{team_url('me')}/{member['id']}"
        assert client.delete(url, headers=factory.headers(patient)).status_code == 204
        approve = client.post(f"{url}/approve", headers=factory.headers(patient))
        assert_problem(approve, 409)

    def test_an_ended_provider_can_be_invited_back(self, client, mongo, factory):
        provider, patient = factory.provider(), factory.patient()
        member = factory.membership(patient, provider)
        client.delete(f"{team_url('me')}/{member.pk}", headers=factory.headers(patient))
        rejoined = join(client, factory, patient, invite(client, factory, provider))
        assert rejoined.status_code == 201 and rejoined.get_json()["id"] != str(member.pk)
        statuses = sorted(m["status"] for m in memberships(mongo, patient))
        assert statuses == ["active", "ended"]
        assert (
            client.get(team_url(patient.pk), headers=factory.headers(provider)).status_code == 200
        )


class TestListing:
    def test_members_with_provider_specialty_role_and_status_paginated(self, client, factory):
        patient = factory.patient()
        pcp = factory.provider(name="Dr. P", specialty="primary care")
        endo = factory.provider(name="Dr. E", specialty="endocrinology")
        gone = factory.provider(name="Dr. G", specialty="cardiology")
        factory.membership(patient, gone, status="ended", role="specialist")
        factory.membership(patient, pcp)
        factory.membership(patient, endo, status="pending", role="specialist")
        response = client.get(team_url("me"), headers=factory.headers(patient))
        assert response.status_code == 200
        members = response.get_json()
        assert {
            (m["provider"]["name"], m["specialty"], m["role"], m["status"]) for m in members
        } == {
            ("Dr. P", "primary care", "primary", "active"),
            ("Dr. E", "endocrinology", "specialist", "pending"),
            ("Dr. G", "cardiology", "specialist", "ended"),
        }
        pagination = json.loads(response.headers["X-Pagination"])
        assert pagination["total"] == 3

        page = client.get(team_url("me") + "?page_size=2&page=2", headers=factory.headers(patient))
        assert len(page.get_json()) == 1
        assert json.loads(page.headers["X-Pagination"])["page"] == 2
        too_big = client.get(team_url("me") + "?page_size=500", headers=factory.headers(patient))
        assert_problem(too_big, 422)


class TestAccessLog:
    def test_the_patient_sees_who_read_and_changed_their_records_newest_first(
        self, client, factory
    ):
        pcp, endo, patient = factory.provider(), factory.provider(), factory.patient()
        factory.membership(patient, pcp)
        client.get(team_url(patient.pk), headers=factory.headers(pcp))
        refer(client, factory, pcp, patient, endo)
        client.get(team_url("me"), headers=factory.headers(patient))  # the patient: not logged

        response = client.get(
            "/api/v1/patients/me/access-log?page_size=1", headers=factory.headers(patient)
        )
        assert response.status_code == 200
        assert json.loads(response.headers["X-Pagination"])["total"] == 2
        everything = client.get(
            "/api/v1/patients/me/access-log", headers=factory.headers(patient)
        ).get_json()
        assert response.get_json() == everything[:1]
        assert [(e["action"], e["actor"], e["actor_role"], e["relation"]) for e in everything] == [
            ("POST /api/v1/patients/<pid>/care-team", str(pcp.pk), "provider", "team"),
            ("GET /api/v1/patients/<pid>/care-team", str(pcp.pk), "provider", "team"),
        ]
        assert everything[0]["at"] >= everything[1]["at"]
        assert all(e["at"].endswith("Z") for e in everything)

    def test_denied_requests_are_not_logged_as_access(self, client, mongo, factory):
        pcp, patient = factory.provider(), factory.patient()
        client.get(team_url(patient.pk), headers=factory.headers(pcp))
        assert mongo.access_log.count_documents({}) == 0

    def test_only_the_patient_reads_the_access_log(self, client, factory):
        pcp, patient = factory.provider(), factory.patient()
        factory.membership(patient, pcp)
        url = f"/api/v1/patients/{patient.pk}/access-log"
        assert_problem(client.get(url, headers=factory.headers(pcp)), 403)
        assert_problem(client.get(url, headers=factory.headers(factory.provider())), 404)
        assert_problem(client.get(url, headers=factory.headers(factory.patient())), 404)
        assert_problem(client.get(url, headers=factory.headers(factory.admin())), 404)
        assert client.get(url, headers=factory.headers(patient)).status_code == 200
