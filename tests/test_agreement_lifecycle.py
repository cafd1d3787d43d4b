"""The lifecycle table: every transition from every state, fired by every role, through HTTP."""

import itertools
from datetime import date

import pytest
from bson import ObjectId

from api.access import Scope
from api.auth import Caller
from api.clock import utcnow
from api.errors import Conflict
from api.models.agreement import Agreement, AgreementContent, AgreementVersion
from api.services.care import agreements
from tests.agreement_helpers import circle
from tests.test_foundation import assert_problem

STATES = ("draft", "proposed", "active", "revision", "completed", "revoked")
ACTIONS = ("propose", "accept", "decline", "complete", "revoke")
NOW = utcnow()
ROLES = ("patient", "provider", "other_provider", "caregiver_manage", "caregiver_view")

# (action, state the agreement is in) -> status afterwards. Anything else is a 409.
LEGAL = {
    ("propose", "draft"): "proposed",
    ("accept", "proposed"): "active",
    ("decline", "proposed"): "draft",
    ("accept", "revision"): "active",
    ("decline", "revision"): "active",
    ("complete", "active"): "completed",
    ("complete", "revision"): "completed",
    ("revoke", "draft"): "revoked",
    ("revoke", "proposed"): "revoked",
    ("revoke", "active"): "revoked",
    ("revoke", "revision"): "revoked",
}
# Accepting and declining are the patient's (or a managing caregiver's); the rest a provider's.
FIRES = {
    "accept": {"patient", "caregiver_manage"},
    "decline": {"patient", "caregiver_manage"},
    "propose": {"provider"},
    "complete": {"provider"},
    "revoke": {"provider"},
}


def expected_status(role: str, action: str, state: str) -> int:
    if role == "other_provider":
        return 404
    if role not in FIRES[action]:
        return 403
    return 200 if (action, state) in LEGAL else 409


def agreement_in(factory, people, state: str, condition: str) -> Agreement:
    status = "active" if state == "revision" else state
    agreement = factory.agreement(people.patient, people.provider, status=status)
    agreement.content.conditions = [condition]
    if state == "revision":
        agreement.revision = AgreementContent(
            title="Revised plan", conditions=[condition], goals=list(agreement.content.goals)
        )
        agreement.revision_proposed_by = people.provider.pk
    agreement.save()
    return agreement


def test_the_service_table_is_the_one_tested_here():
    table = {(t.action, t.source): t.target for t in agreements.TRANSITIONS}
    assert table == LEGAL
    assert agreements.ACTIONS == ACTIONS


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, ACTIONS)))
def test_every_transition_by_every_role(client, factory, mongo, state, action):
    people = circle(factory)
    for role in ROLES:
        agreement = agreement_in(factory, people, state, condition=f"condition {role}")
        before = mongo.agreements.find_one({"_id": agreement.pk})
        response = client.post(
            people.url(f"/{agreement.pk}/{action}"), headers=people.headers[role]
        )
        want = expected_status(role, action, state)
        stored = mongo.agreements.find_one({"_id": agreement.pk})
        context = f"{role} {action} on {state}"
        assert response.status_code == want, (context, response.get_json())
        if want == 200:
            body = response.get_json()
            assert body["status"] == LEGAL[(action, state)] == stored["status"], context
            assert stored["version"] == before["version"] + 1
            assert response.headers["ETag"] == f'"v{stored["version"]}"'
            assert body["completed_agreements"] == []
            continue
        problem = assert_problem(response, want)
        if want == 409:
            assert problem["current_status"] == before["status"], context
            assert action in problem["detail"]
        assert stored == before, f"{context} changed the stored agreement"


def test_accepting_a_proposal_records_who_when_and_writes_version_one(client, factory, mongo):
    people = circle(factory)
    agreement = agreement_in(factory, people, "proposed", "type 2 diabetes")
    response = client.post(
        f"/api/v1/patients/me/agreements/{agreement.pk}/accept", headers=people.headers["patient"]
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["accepted_by"] == str(people.patient.pk)
    assert body["on_behalf_of"] is None
    assert body["accepted_version"] == 1
    assert body["accepted_at"] == body["active_since"]
    versions = list(mongo.agreement_versions.find({"agreement": agreement.pk}))
    assert len(versions) == 1
    assert versions[0]["number"] == 1
    assert versions[0]["accepted_by"] == people.patient.pk
    assert versions[0]["content"]["title"] == agreement.content.title


def test_a_caregiver_with_manage_accepts_on_the_patients_behalf(client, factory, mongo):
    people = circle(factory)
    agreement = agreement_in(factory, people, "proposed", "asthma")
    response = client.post(
        people.url(f"/{agreement.pk}/accept"), headers=people.headers["caregiver_manage"]
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["accepted_by"] == str(people.manager.pk)
    assert response.get_json()["on_behalf_of"] == str(people.patient.pk)
    stored = mongo.agreement_versions.find_one({"agreement": agreement.pk})
    assert stored["accepted_by"] == people.manager.pk
    assert stored["on_behalf_of"] == people.patient.pk


def test_a_minor_cannot_accept_alone_but_a_managing_caregiver_can(client, factory, mongo):
    people = circle(factory, birth_date=date(NOW.year - 10, 1, 1))
    agreement = agreement_in(factory, people, "proposed", "congenital heart disease")
    alone = client.post(people.url(f"/{agreement.pk}/accept"), headers=people.headers["patient"])
    problem = assert_problem(alone, 409)
    assert "caregiver" in problem["detail"]
    assert problem["current_status"] == "proposed"
    assert mongo.agreements.find_one({"_id": agreement.pk})["status"] == "proposed"
    assert mongo.agreement_versions.count_documents({}) == 0
    viewer = client.post(
        people.url(f"/{agreement.pk}/accept"), headers=people.headers["caregiver_view"]
    )
    assert_problem(viewer, 403)
    parent = client.post(
        people.url(f"/{agreement.pk}/accept"), headers=people.headers["caregiver_manage"]
    )
    assert parent.status_code == 200, parent.get_json()
    assert parent.get_json()["on_behalf_of"] == str(people.patient.pk)


def test_declining_a_proposal_returns_it_to_draft_for_the_provider(client, factory, mongo):
    people = circle(factory)
    agreement = agreement_in(factory, people, "proposed", "asthma")
    declined = client.post(
        people.url(f"/{agreement.pk}/decline"), headers=people.headers["patient"]
    )
    assert declined.get_json()["status"] == "draft"
    again = client.post(people.url(f"/{agreement.pk}/propose"), headers=people.headers["provider"])
    assert again.status_code == 200
    assert again.get_json()["proposed_by"] == str(people.provider.pk)
    assert mongo.agreements.find_one({"_id": agreement.pk})["status"] == "proposed"


def test_an_empty_draft_cannot_be_proposed(client, factory, mongo):
    people = circle(factory)
    created = client.post(
        people.url(), json={"title": "To be filled in"}, headers=people.headers["provider"]
    )
    aid = created.get_json()["id"]
    problem = assert_problem(
        client.post(people.url(f"/{aid}/propose"), headers=people.headers["provider"]), 422
    )
    assert "goals" in problem["errors"]
    assert mongo.agreements.find_one({"_id": ObjectId(aid)})["status"] == "draft"


def test_a_stale_if_match_on_a_transition_is_refused(client, factory, mongo):
    people = circle(factory)
    agreement = agreement_in(factory, people, "proposed", "asthma")
    stale = f'"v{agreement.version - 1}"'
    response = client.post(
        people.url(f"/{agreement.pk}/accept"),
        headers={**people.headers["patient"], "If-Match": stale},
    )
    assert_problem(response, 412)
    assert mongo.agreements.find_one({"_id": agreement.pk})["status"] == "proposed"
    fresh = client.post(
        people.url(f"/{agreement.pk}/accept"),
        headers={**people.headers["patient"], "If-Match": f'"v{agreement.version}"'},
    )
    assert fresh.status_code == 200


def test_activating_completes_the_active_agreement_sharing_a_condition(client, factory, mongo):
    people = circle(factory)
    old = agreement_in(factory, people, "active", "type 2 diabetes")
    unrelated = agreement_in(factory, people, "active", "asthma")
    new = agreement_in(factory, people, "proposed", "type 2 diabetes")
    response = client.post(people.url(f"/{new.pk}/accept"), headers=people.headers["patient"])
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["completed_agreements"] == [str(old.pk)]
    stored_old = mongo.agreements.find_one({"_id": old.pk})
    assert stored_old["status"] == "completed"
    assert stored_old["replaced_by"] == new.pk
    assert stored_old["ended_by"] == people.patient.pk
    assert mongo.agreements.find_one({"_id": unrelated.pk})["status"] == "active"
    active = client.get(people.url("?status=active"), headers=people.headers["patient"])
    assert {a["id"] for a in active.get_json()} == {str(new.pk), str(unrelated.pk)}


def test_a_lost_race_deletes_the_version_it_wrote(app, factory, mongo):
    """An accept that read a revision which was declined meanwhile writes version 2, fails to
    flip the agreement, and removes version 2 again: no half-accepted state stays."""
    people = circle(factory)
    agreement = agreement_in(factory, people, "revision", "asthma")
    stale_copy = Agreement.objects.get(pk=agreement.pk)
    scope = Scope(people.patient.pk, Caller(people.patient.pk, "patient", "f", "j"), "self")
    declined = agreements.transition(
        scope=scope, agreement_id=str(agreement.pk), action="decline", minor_age=16, now=NOW
    )
    assert declined.agreement.revision is None
    with pytest.raises(Conflict) as lost:
        agreements._accept(scope, stale_copy, 16, NOW)
    assert lost.value.extra["current_status"] == "active"
    assert [v["number"] for v in mongo.agreement_versions.find({"agreement": agreement.pk})] == [1]
    stored = mongo.agreements.find_one({"_id": agreement.pk})
    assert stored["accepted_version"] == 1
    assert stored["content"]["title"] == agreement.content.title


def test_two_accepts_of_one_proposal_store_one_version(app, factory, mongo):
    people = circle(factory)
    agreement = agreement_in(factory, people, "proposed", "asthma")
    stale_copy = Agreement.objects.get(pk=agreement.pk)
    scope = Scope(people.patient.pk, Caller(people.patient.pk, "patient", "f", "j"), "self")
    agreements.transition(
        scope=scope, agreement_id=str(agreement.pk), action="accept", minor_age=16, now=NOW
    )
    with pytest.raises(Conflict):
        agreements._accept(scope, stale_copy, 16, NOW)
    assert AgreementVersion.objects(agreement=agreement.pk).count() == 1
