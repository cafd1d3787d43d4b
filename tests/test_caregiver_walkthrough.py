"""The README's walkthrough, through HTTP alone: a parent joins their child's care, accepts
the child's agreement, logs for the child, sees adherence and registers a phone for the
child's reminders — and can do nothing the grant does not allow."""

import uuid
from datetime import UTC, datetime

from bson import ObjectId

from api.services.tracking import measures
from tests.test_foundation import assert_problem

API = "/api/v1"


def test_a_parent_manages_their_childs_care_through_http(client, factory, mongo):
    gp = factory.provider()
    parent = factory.patient(timezone="Europe/London")
    as_gp, as_parent = factory.headers(gp), factory.headers(parent)

    # The GP creates the child's record on their panel and invites the parent.
    child = client.post(
        f"{API}/patients",
        json={"name": "Mia", "birth_date": "2019-03-02", "timezone": "Europe/London"},
        headers=as_gp,
    )
    assert child.status_code == 201, child.get_json()
    cid = child.get_json()["id"]
    invite = client.post(
        f"{API}/patients/{cid}/caregivers",
        json={"relationship": "parent", "permissions": ["manage"]},
        headers=as_gp,
    )
    assert invite.status_code == 201 and invite.get_json()["status"] == "pending"

    # The parent redeems the code; the family switcher lists the child.
    joined = client.post(
        f"{API}/me/dependants", json={"code": invite.get_json()["code"]}, headers=as_parent
    )
    assert joined.status_code == 201, joined.get_json()
    [dependant] = client.get(f"{API}/me/dependants", headers=as_parent).get_json()
    assert dependant["name"] == "Mia" and dependant["minor"] is True

    # The GP proposes the paediatric heart plan; the parent accepts it for the child.
    created = client.post(
        f"{API}/patients/{cid}/agreements", json={"template_id": "paediatric-heart"}, headers=as_gp
    )
    assert created.status_code == 201, created.get_json()
    plan = created.get_json()
    aid = plan["id"]
    assert (
        client.post(f"{API}/patients/{cid}/agreements/{aid}/propose", headers=as_gp).status_code
        == 200
    )
    accepted = client.post(f"{API}/patients/{cid}/agreements/{aid}/accept", headers=as_parent)
    assert accepted.status_code == 200, accepted.get_json()
    body = accepted.get_json()
    assert body["status"] == "active"
    assert body["accepted_by"] == str(parent.pk) and body["on_behalf_of"] == cid

    # The parent logs for the child; the entry records who recorded it.
    goal = plan["goals"][0]
    target = goal["target"]
    value = target.get("value", target.get("low"))
    measure = measures.get(goal["measure"])
    value = max(value, measures.from_canonical(measure, measure.entry_range[0], goal["unit"]))
    logged = client.post(
        f"{API}/patients/{cid}/logs",
        json={
            "id": str(uuid.uuid4()),
            "agreement_id": aid,
            "goal_id": goal["id"],
            "occurred_at": datetime.now(UTC).isoformat(),
            "value": value,
            "unit": goal["unit"],
        },
        headers=as_parent,
    )
    assert logged.status_code == 201, logged.get_json()
    assert logged.get_json()["recorded_by"] == str(parent.pk)
    adherence = client.get(f"{API}/patients/{cid}/adherence", headers=as_parent)
    assert adherence.status_code == 200
    assert goal["id"] in [g["goal_id"] for g in adherence.get_json()["goals"]]

    # The parent's phone receives the child's reminders.
    device = client.post(
        f"{API}/patients/{cid}/devices",
        json={"platform": "ios", "token": "parent-phone-token-0001"},
        headers=as_parent,
    )
    assert device.status_code in (200, 201), device.get_json()

    # Nothing more than the grant allows: no clinical acts, no other child.
    new_plan = {"template_id": "paediatric-heart"}
    refused = client.post(f"{API}/patients/{cid}/agreements", json=new_plan, headers=as_parent)
    assert_problem(refused, 403)
    other_child = factory.patient()
    assert_problem(client.get(f"{API}/patients/{other_child.pk}/logs", headers=as_parent), 404)

    # The child's access log shows the parent's reads and writes.
    actions = [e["action"] for e in mongo.access_log.find({"patient": ObjectId(cid)})]
    assert any("accept" in a for a in actions) and any("/logs" in a for a in actions)
