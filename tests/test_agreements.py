"""Agreements through HTTP: drafts, reading with ETags, edits and revisions, versions, access."""

import copy
import threading

import pytest
from bson import ObjectId

from api import demo
from api.models.agreement import AgreementVersion
from tests.agreement_helpers import BASE, GOAL, circle, plan
from tests.test_foundation import assert_problem


def create(client, people, body=None, role="provider"):
    return client.post(people.url(), json=body or plan(), headers=people.headers[role])


def active_agreement(client, people, body=None) -> dict:
    """Created, proposed and accepted through the API."""
    aid = create(client, people, body).get_json()["id"]
    client.post(people.url(f"/{aid}/propose"), headers=people.headers["provider"])
    accepted = client.post(people.url(f"/{aid}/accept"), headers=people.headers["patient"])
    assert accepted.status_code == 200, accepted.get_json()
    return accepted.get_json()


# ---- creating and reading ----------------------------------------------------------------


def test_a_provider_on_the_team_creates_a_draft(client, factory, mongo):
    people = circle(factory)
    response = create(client, people)
    body = response.get_json()
    assert response.status_code == 201, body
    assert response.headers["ETag"] == '"v1"'
    assert body["status"] == "draft"
    assert body["author_id"] == str(people.provider.pk)
    assert body["patient_id"] == str(people.patient.pk)
    assert body["conditions"] == ["type 2 diabetes"]
    assert body["goals"][0]["id"].startswith("g_")
    assert body["checkups"][0]["id"].startswith("c_")
    assert body["goals"][0]["target"] == {"op": "at_least", "value": 30.0}
    assert body["revision"] is None
    stored = mongo.agreements.find_one({"_id": ObjectId(body["id"])})
    assert stored["content"]["goals"][0]["id"] == body["goals"][0]["id"]
    assert stored["content"]["checkups"][0]["interval"] == "P3M"
    assert stored["version"] == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [("patient", 403), ("caregiver_manage", 403), ("caregiver_view", 403), ("other_provider", 404)],
)
def test_only_a_provider_on_the_team_creates(client, factory, mongo, role, status):
    people = circle(factory)
    assert_problem(create(client, people, role=role), status)
    assert mongo.agreements.count_documents({}) == 0


def test_the_start_date_defaults_to_the_patients_today(client, factory):
    people = circle(factory, timezone="Pacific/Kiritimati")
    body = plan()
    del body["start_on"], body["review_on"]
    created = create(client, people, body).get_json()
    assert created["start_on"] is not None
    assert created["review_on"] is None


def test_patients_list_their_own_at_me_and_filter_by_status(client, factory):
    people = circle(factory)
    first = create(client, people).get_json()
    active = active_agreement(client, people, plan(conditions=["asthma"]))
    stranger = circle(factory)
    create(client, stranger)
    mine = client.get(f"{BASE}/me/agreements", headers=people.headers["patient"])
    assert mine.status_code == 200
    assert [a["id"] for a in mine.get_json()] == [active["id"], first["id"]]
    assert '"total": 2' in mine.headers["X-Pagination"]
    drafts = client.get(f"{BASE}/me/agreements?status=draft", headers=people.headers["patient"])
    assert [a["id"] for a in drafts.get_json()] == [first["id"]]
    viewer = client.get(people.url("?status=active"), headers=people.headers["caregiver_view"])
    assert [a["id"] for a in viewer.get_json()] == [active["id"]]
    bad = client.get(people.url("?status=finished"), headers=people.headers["provider"])
    assert "status" in assert_problem(bad, 422)["errors"]


def test_get_gives_an_etag_and_304_when_unchanged(client, factory):
    people = circle(factory)
    aid = create(client, people).get_json()["id"]
    first = client.get(people.url(f"/{aid}"), headers=people.headers["patient"])
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag == '"v1"'
    again = client.get(
        people.url(f"/{aid}"), headers={**people.headers["patient"], "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    client.post(people.url(f"/{aid}/propose"), headers=people.headers["provider"])
    changed = client.get(
        people.url(f"/{aid}"), headers={**people.headers["patient"], "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"v2"'


def test_other_patients_agreements_are_not_found_on_every_route(client, factory, mongo):
    people, stranger = circle(factory), circle(factory)
    theirs = create(client, stranger).get_json()["id"]
    mine_url = people.url(f"/{theirs}")
    provider, patient = people.headers["provider"], people.headers["patient"]
    assert_problem(client.get(mine_url, headers=provider), 404)
    assert_problem(client.get(f"{BASE}/me/agreements/{theirs}", headers=patient), 404)
    assert_problem(client.get(f"{mine_url}/versions", headers=patient), 404)
    assert_problem(
        client.patch(mine_url, json={"title": "x"}, headers={**provider, "If-Match": '"v1"'}), 404
    )
    for action in ("propose", "revoke"):
        assert_problem(client.post(f"{mine_url}/{action}", headers=provider), 404)
    # The stranger's own URL with someone else's token: 404, never a hint.
    their_url = stranger.url(f"/{theirs}")
    for headers in (provider, patient, people.headers["caregiver_manage"]):
        assert_problem(client.get(their_url, headers=headers), 404)
        assert_problem(client.get(stranger.url(), headers=headers), 404)
        assert_problem(client.post(f"{their_url}/accept", headers=headers), 404)
    assert_problem(client.get(people.url("/not-an-id"), headers=provider), 404)
    assert mongo.agreements.find_one({"_id": ObjectId(theirs)})["status"] == "draft"


# ---- edits ---------------------------------------------------------------------------------


def test_patch_needs_if_match_and_refuses_a_stale_one(client, factory, mongo):
    people = circle(factory)
    aid = create(client, people).get_json()["id"]
    provider = people.headers["provider"]
    missing = client.patch(people.url(f"/{aid}"), json={"title": "New"}, headers=provider)
    assert_problem(missing, 428)
    foreign = client.patch(
        people.url(f"/{aid}"), json={"title": "New"}, headers={**provider, "If-Match": '"abc"'}
    )
    assert_problem(foreign, 412)
    ok = client.patch(
        people.url(f"/{aid}"), json={"title": "New"}, headers={**provider, "If-Match": '"v1"'}
    )
    assert ok.status_code == 200, ok.get_json()
    assert ok.headers["ETag"] == '"v2"'
    replay = client.patch(
        people.url(f"/{aid}"), json={"title": "Other"}, headers={**provider, "If-Match": '"v1"'}
    )
    assert_problem(replay, 412)
    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert (stored["content"]["title"], stored["version"]) == ("New", 2)


def test_two_concurrent_patches_with_one_etag_one_wins(app, factory, mongo):
    people = circle(factory)
    aid = create(app.test_client(), people).get_json()["id"]
    start, results = threading.Barrier(2), {}

    def edit(title):
        client = app.test_client()
        start.wait()
        results[title] = client.patch(
            people.url(f"/{aid}"),
            json={"title": title},
            headers={**people.headers["provider"], "If-Match": '"v1"'},
        ).status_code

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("Left", "Right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 412]
    winner = next(title for title, code in results.items() if code == 200)
    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert (stored["content"]["title"], stored["version"]) == (winner, 2)


def test_only_a_provider_on_the_team_edits(client, factory, mongo):
    people = circle(factory)
    aid = create(client, people).get_json()["id"]
    for role, status in (("patient", 403), ("caregiver_manage", 403), ("other_provider", 404)):
        response = client.patch(
            people.url(f"/{aid}"),
            json={"title": "Mine"},
            headers={**people.headers[role], "If-Match": '"v1"'},
        )
        assert_problem(response, status)
    assert mongo.agreements.find_one({"_id": ObjectId(aid)})["version"] == 1


def test_goal_ids_survive_edits_and_unknown_ids_are_refused(client, factory, mongo):
    people = circle(factory)
    created = create(client, people).get_json()
    aid, kept = created["id"], created["goals"][0]
    edited_goal = {**kept, "target": {"op": "at_least", "value": 45}}
    new_goal = {**GOAL, "title": "Evening walk"}
    response = client.patch(
        people.url(f"/{aid}"),
        json={"goals": [edited_goal, new_goal]},
        headers={**people.headers["provider"], "If-Match": '"v1"'},
    )
    goals = response.get_json()["goals"]
    assert goals[0]["id"] == kept["id"]
    assert goals[0]["target"]["value"] == 45
    assert goals[1]["id"] not in (kept["id"], None)
    unknown = client.patch(
        people.url(f"/{aid}"),
        json={"goals": [{**GOAL, "id": "g_000000000000"}]},
        headers={**people.headers["provider"], "If-Match": '"v2"'},
    )
    assert "goals.0.id" in assert_problem(unknown, 422)["errors"]
    twice = client.patch(
        people.url(f"/{aid}"),
        json={"goals": [edited_goal, edited_goal]},
        headers={**people.headers["provider"], "If-Match": '"v2"'},
    )
    assert "goals.1.id" in assert_problem(twice, 422)["errors"]
    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert stored["version"] == 2
    assert [g["id"] for g in stored["content"]["goals"]] == [g["id"] for g in goals]


def test_ids_sent_when_creating_are_unknown(client, factory, mongo):
    people = circle(factory)
    response = create(client, people, plan(goals=[{**GOAL, "id": "g_123"}]))
    assert "goals.0.id" in assert_problem(response, 422)["errors"]
    assert mongo.agreements.count_documents({}) == 0


def test_an_ended_agreement_cannot_be_edited(client, factory, mongo):
    people = circle(factory)
    aid = create(client, people).get_json()["id"]
    client.post(people.url(f"/{aid}/revoke"), headers=people.headers["provider"])
    response = client.patch(
        people.url(f"/{aid}"),
        json={"title": "Too late"},
        headers={**people.headers["provider"], "If-Match": '"v2"'},
    )
    assert assert_problem(response, 409)["current_status"] == "revoked"


# ---- revisions and versions ------------------------------------------------------------------


def test_the_active_version_stays_in_force_during_a_pending_revision(client, factory, mongo):
    people = circle(factory)
    active = active_agreement(client, people)
    aid, goal = active["id"], active["goals"][0]
    etag = client.get(people.url(f"/{aid}"), headers=people.headers["provider"]).headers["ETag"]
    revised_goal = {**goal, "target": {"op": "at_least", "value": 60}}
    patched = client.patch(
        people.url(f"/{aid}"),
        json={"title": "Stronger plan", "goals": [revised_goal, GOAL]},
        headers={**people.headers["provider"], "If-Match": etag},
    )
    assert patched.status_code == 200, patched.get_json()
    shown = client.get(people.url(f"/{aid}"), headers=people.headers["patient"]).get_json()
    assert shown["status"] == "active"
    assert shown["title"] == active["title"]
    assert shown["goals"] == active["goals"]
    assert shown["accepted_version"] == 1
    assert shown["revision"]["title"] == "Stronger plan"
    assert shown["revision"]["goals"][0]["id"] == goal["id"]
    assert shown["revision"]["goals"][0]["target"]["value"] == 60
    assert shown["revision"]["proposed_by"] == str(people.provider.pk)
    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert stored["content"]["goals"][0]["target"]["value"] == 30
    assert stored["accepted_version"] == 1

    accepted = client.post(people.url(f"/{aid}/accept"), headers=people.headers["patient"])
    body = accepted.get_json()
    assert accepted.status_code == 200, body
    assert body["title"] == "Stronger plan"
    assert body["goals"][0]["id"] == goal["id"]
    assert body["goals"][0]["target"]["value"] == 60
    assert body["revision"] is None
    assert body["accepted_version"] == 2
    assert body["active_since"] > active["active_since"]
    versions = client.get(people.url(f"/{aid}/versions"), headers=people.headers["patient"])
    listed = versions.get_json()
    assert [v["number"] for v in listed] == [2, 1]
    assert listed[1]["title"] == active["title"]
    assert listed[1]["goals"] == active["goals"]
    assert listed[0]["proposed_by"] == str(people.provider.pk)


def test_declining_a_revision_keeps_the_active_plan(client, factory, mongo):
    people = circle(factory)
    active = active_agreement(client, people)
    aid = active["id"]
    client.patch(
        people.url(f"/{aid}"),
        json={"title": "Unwanted"},
        headers={**people.headers["provider"], "If-Match": f'"v{active["version"]}"'},
    )
    declined = client.post(
        people.url(f"/{aid}/decline"), headers=people.headers["caregiver_manage"]
    )
    assert declined.status_code == 200
    assert declined.get_json()["revision"] is None
    assert declined.get_json()["title"] == active["title"]
    stored = mongo.agreements.find_one({"_id": ObjectId(aid)})
    assert "revision" not in stored
    assert stored["status"] == "active"
    assert mongo.agreement_versions.count_documents({"agreement": ObjectId(aid)}) == 1


def test_versions_are_immutable(client, factory, mongo):
    people = circle(factory)
    active = active_agreement(client, people)
    aid = active["id"]
    original = mongo.agreement_versions.find_one({"agreement": ObjectId(aid)})
    version = AgreementVersion.objects.get(pk=original["_id"])
    version.content.title = "Rewritten history"
    with pytest.raises(TypeError):
        version.save()
    assert mongo.agreement_versions.find_one({"_id": original["_id"]}) == original
    for method in (client.patch, client.put, client.delete, client.post):
        response = method(people.url(f"/{aid}/versions"), headers=people.headers["provider"])
        assert_problem(response, 405)
    # A later revision writes a new version and leaves the first as it was.
    client.patch(
        people.url(f"/{aid}"),
        json={"title": "Second"},
        headers={**people.headers["provider"], "If-Match": f'"v{active["version"]}"'},
    )
    client.post(people.url(f"/{aid}/accept"), headers=people.headers["patient"])
    assert mongo.agreement_versions.find_one({"_id": original["_id"]}) == original
    assert mongo.agreement_versions.count_documents({"agreement": ObjectId(aid)}) == 2


def test_a_revision_adding_a_condition_replaces_that_conditions_agreement(client, factory, mongo):
    people = circle(factory)
    asthma = active_agreement(client, people, plan(conditions=["asthma"]))
    diabetes = active_agreement(client, people)
    client.patch(
        people.url(f"/{diabetes['id']}"),
        json={"conditions": ["type 2 diabetes", "asthma"]},
        headers={**people.headers["provider"], "If-Match": f'"v{diabetes["version"]}"'},
    )
    accepted = client.post(
        people.url(f"/{diabetes['id']}/accept"), headers=people.headers["patient"]
    )
    assert accepted.get_json()["completed_agreements"] == [asthma["id"]]
    assert mongo.agreements.find_one({"_id": ObjectId(asthma["id"])})["status"] == "completed"


# ---- demo data -------------------------------------------------------------------------------


def test_the_demo_patient_gets_one_active_diabetes_agreement(app, mongo):
    demo.seed(patients=1)
    demo.seed(patients=1)
    patient = mongo.users.find_one({"email": "patient@demo.carepact.test"})
    stored = list(mongo.agreements.find({"patient": patient["_id"]}))
    assert len(stored) == 1
    assert stored[0]["status"] == "active"
    assert stored[0]["template_id"] == "t2-diabetes"
    assert stored[0]["accepted_by"] == patient["_id"]
    checkups = {c["name"]: c for c in stored[0]["content"]["checkups"]}
    assert checkups["HbA1c"]["interval"] == "P3M"
    assert mongo.agreement_versions.count_documents({"agreement": stored[0]["_id"]}) == 1


def test_a_copy_of_a_response_is_a_valid_patch_body(client, factory):
    """What GET returns for goals can be sent back as is (ids included)."""
    people = circle(factory)
    created = create(client, people).get_json()
    response = client.patch(
        people.url(f"/{created['id']}"),
        json={"goals": copy.deepcopy(created["goals"]), "checkups": created["checkups"]},
        headers={**people.headers["provider"], "If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["goals"] == created["goals"]
