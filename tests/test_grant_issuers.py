"""Who issued a caregiver grant, and what that issuer may not do with it (issue 17, holes 1-2).

A revoked caregiver's codes die with their grant; the issuer of a code cannot redeem it; a
provider on a child's team cannot become the child's caregiver; whoever proposed an
agreement cannot accept it on the patient's behalf.
"""

import pytest
from bson import ObjectId

from api.models.user import User
from tests.agreement_helpers import plan
from tests.test_caregivers import API, issue, join, redeem
from tests.test_children import create_child
from tests.test_foundation import assert_problem


def caregivers_of(client, headers, pid) -> dict:
    response = client.get(f"{API}/patients/{pid}/caregivers", headers=headers)
    assert response.status_code == 200
    return {grant["id"]: grant for grant in response.get_json()}


@pytest.fixture
def family(factory):
    patient = factory.patient(name="Ada Patient")
    manager = factory.patient(name="Mia Manager")
    return patient, manager


class TestARevokedCaregiversCodes:
    def test_die_with_their_grant(self, client, factory, mongo, family):
        patient, manager = family
        manager_grant = join(client, factory, patient, manager, permissions=["manage"])
        # The manager hands out two codes: one redeemed by a friend, one still pending.
        friend, stranger = factory.patient(name="Fred Friend"), factory.patient()
        first = issue(client, factory.headers(manager), patient.pk, permissions=["view"])
        pending = issue(client, factory.headers(manager), patient.pk, permissions=["view"])
        assert redeem(client, factory.headers(friend), first.get_json()["code"]).status_code == 201
        friends_grant, pending_grant = first.get_json()["id"], pending.get_json()["id"]

        listed = caregivers_of(client, factory.headers(patient), "me")
        assert listed[friends_grant]["issued_by"] == {
            "id": str(manager.pk),
            "name": "Mia Manager",
            "relation": "caregiver",
        }
        assert listed[manager_grant]["issued_by"]["relation"] == "self"

        ended = client.delete(
            f"{API}/patients/me/caregivers/{manager_grant}", headers=factory.headers(patient)
        )
        assert ended.status_code == 204

        # The pending code no longer opens anything, and the friend is out as well.
        late = redeem(client, factory.headers(stranger), pending.get_json()["code"])
        assert "code" in assert_problem(late, 422)["errors"]
        logs = f"{API}/patients/{patient.pk}/logs"
        assert_problem(client.get(logs, headers=factory.headers(stranger)), 404)
        assert_problem(client.get(logs, headers=factory.headers(friend)), 404)

        listed = caregivers_of(client, factory.headers(patient), "me")
        for gid in (friends_grant, pending_grant):
            assert listed[gid]["status"] == "ended"
            assert listed[gid]["ended_reason"] == "issuer_ended"
        stored = mongo.caregiver_grants.find_one({"caregiver": friend.pk})
        assert stored["status"] == "ended" and stored["ended_by"] == patient.pk
        assert mongo.caregiver_grants.count_documents({"status": {"$ne": "ended"}}) == 0

    def test_the_patients_own_other_grants_stay(self, client, factory, family):
        patient, manager = family
        manager_grant = join(client, factory, patient, manager, permissions=["manage"])
        spouse = factory.patient()
        spouse_grant = join(client, factory, patient, spouse, permissions=["view"])
        client.delete(
            f"{API}/patients/me/caregivers/{manager_grant}", headers=factory.headers(patient)
        )
        assert caregivers_of(client, factory.headers(patient), "me")[spouse_grant]["status"] == (
            "active"
        )


class TestAProviderCannotBecomeAMinorsGuardian:
    def test_the_issuer_of_a_code_cannot_redeem_it(self, client, factory, mongo, family):
        patient, manager = family
        join(client, factory, patient, manager, permissions=["manage"])
        code = issue(client, factory.headers(manager), patient.pk, permissions=["manage"])
        response = redeem(client, factory.headers(manager), code.get_json()["code"])
        assert "issued this code" in assert_problem(response, 422)["errors"]["code"][0]
        stored = mongo.caregiver_grants.find_one({"_id": ObjectId(code.get_json()["id"])})
        assert (stored["status"], stored.get("caregiver")) == ("pending", None)

    def test_nor_can_a_provider_who_was_on_the_team_when_it_was_issued(
        self, client, factory, mongo
    ):
        provider = factory.provider()
        child = create_child(client, factory, provider).get_json()
        code = issue(client, factory.headers(provider), child["id"], permissions=["manage"])
        assert code.status_code == 201
        # A colleague on the same team may not take it either.
        colleague = factory.provider()
        factory.membership(User.objects(pk=child["id"]).first(), colleague)
        response = redeem(client, factory.headers(colleague), code.get_json()["code"])
        assert "care team" in assert_problem(response, 422)["errors"]["code"][0]
        # Leaving the team first changes nothing: they were on it when the code was issued.
        mongo.care_team_members.update_many(
            {"provider": colleague.pk}, {"$set": {"status": "ended", "open": False}}
        )
        mongo.care_team_members.update_many(
            {"provider": colleague.pk}, {"$currentDate": {"ended_at": True}}
        )
        response = redeem(client, factory.headers(colleague), code.get_json()["code"])
        assert_problem(response, 422)
        assert mongo.caregiver_grants.count_documents({"status": "active"}) == 0
        # A parent redeems it as before.
        parent = factory.patient()
        assert redeem(client, factory.headers(parent), code.get_json()["code"]).status_code == 201

    def test_the_proposer_cannot_accept_on_the_patients_behalf(self, client, factory, mongo):
        provider = factory.provider()
        child = create_child(client, factory, provider).get_json()
        # The provider is also a parent with a grant the other parent issued before.
        other_parent = factory.patient()
        code = issue(client, factory.headers(provider), child["id"], permissions=["manage"])
        redeem(client, factory.headers(other_parent), code.get_json()["code"])
        factory.grant(
            User.objects(pk=child["id"]).first(), provider, permissions=["view", "manage"]
        )

        base = f"{API}/patients/{child['id']}/agreements"
        draft = client.post(base, json=plan(), headers=factory.headers(provider)).get_json()
        proposed = client.post(f"{base}/{draft['id']}/propose", headers=factory.headers(provider))
        assert proposed.status_code == 200, proposed.get_json()
        # Leaving the team leaves the provider with only the caregiver grant.
        mongo.care_team_members.update_many(
            {"provider": provider.pk}, {"$set": {"status": "ended", "open": False}}
        )
        accept = client.post(f"{base}/{draft['id']}/accept", headers=factory.headers(provider))
        assert "proposed" in assert_problem(accept, 403)["detail"]
        assert mongo.agreements.find_one({"_id": ObjectId(draft["id"])})["status"] == "proposed"
        # The other parent, who did not propose it, accepts it.
        accept = client.post(f"{base}/{draft['id']}/accept", headers=factory.headers(other_parent))
        assert accept.status_code == 200
