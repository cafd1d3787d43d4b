"""Agreement templates: the shipped ones, providers' own, and agreements made from them."""

import copy
from datetime import date

import pytest
from bson import ObjectId

from api.services.care import agreement_templates
from api.services.common.intervals import add_interval, parse_interval
from tests.agreement_helpers import CHECKUP, GOAL, circle
from tests.test_foundation import assert_problem

URL = "/api/v1/agreement-templates"
BUILTIN = ("asthma", "hypertension", "paediatric-heart", "t2-diabetes")


def custom(**changes) -> dict:
    body = {
        "id": "walking-club",
        "name": "Walking club",
        "description": "Walk every day.",
        "review_after": "P2M",
        "title": "Walking plan",
        "conditions": ["Obesity"],
        "goals": [{k: v for k, v in copy.deepcopy(GOAL).items() if k != "id"}],
        "checkups": [copy.deepcopy(CHECKUP)],
        "education": [
            {"title": "Walking", "url": "https://medlineplus.gov/exerciseandphysicalfitness.html"}
        ],
    }
    body.update(changes)
    return body


def test_providers_list_the_built_in_templates(client, factory):
    response = client.get(URL, headers=factory.headers(factory.provider()))
    assert response.status_code == 200
    listed = {t["id"]: t for t in response.get_json()}
    assert tuple(listed) == BUILTIN
    assert all(t["builtin"] and t["author_id"] is None for t in listed.values())
    assert all("id" not in g for t in listed.values() for g in t["goals"])
    assert '"total": 4' in response.headers["X-Pagination"]


def test_the_diabetes_template_has_what_the_issue_asks_for(app):
    content = agreement_templates.builtins()["t2-diabetes"].content
    assert {g.kind for g in content.goals} == {"diet", "exercise", "monitoring"}
    assert "blood_glucose" in {g.measure for g in content.goals}
    checkups = {c.name: c for c in content.checkups}
    assert (checkups["HbA1c"].interval, checkups["HbA1c"].code) == ("P3M", "4548-4")
    assert checkups["Diabetic foot exam"].interval == "P1Y"
    assert checkups["Diabetic eye exam (retinal screening)"].interval == "P1Y"
    asthma = agreement_templates.builtins()["asthma"].content
    assert {g.measure for g in asthma.goals} == {"medication_doses", "peak_flow"}
    assert [c.interval for c in asthma.checkups] == ["P6M"]
    pressure = agreement_templates.builtins()["hypertension"].content
    assert {g.measure for g in pressure.goals} == {
        "blood_pressure_systolic",
        "sodium",
        "exercise_minutes",
    }
    heart = agreement_templates.builtins()["paediatric-heart"].content
    assert any("cardiology" in c.name.lower() for c in heart.checkups)


def test_condition_filter(client, factory):
    headers = factory.headers(factory.provider())
    client.post(URL, json=custom(conditions=["asthma"]), headers=headers)
    response = client.get(f"{URL}?condition=Asthma", headers=headers)
    assert [t["id"] for t in response.get_json()] == ["asthma", "walking-club"]
    assert client.get(f"{URL}?condition=gout", headers=headers).get_json() == []


@pytest.mark.parametrize("role", ["patient", "admin"])
def test_templates_are_for_providers(client, factory, role):
    headers = factory.headers(factory.user(role))
    assert_problem(client.get(URL, headers=headers), 403)
    assert_problem(client.post(URL, json=custom(), headers=headers), 403)
    assert_problem(client.get(URL), 401)


def test_a_provider_saves_a_template(client, factory, mongo):
    provider = factory.provider()
    response = client.post(URL, json=custom(), headers=factory.headers(provider))
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["id"] == "walking-club"
    assert body["builtin"] is False
    assert body["author_id"] == str(provider.pk)
    assert body["conditions"] == ["obesity"]
    stored = mongo.agreement_templates.find_one({"template_id": "walking-club"})
    assert stored["author"] == provider.pk
    assert stored["review_after"] == "P2M"
    listed = client.get(URL, headers=factory.headers(factory.provider())).get_json()
    assert [t["id"] for t in listed] == [*BUILTIN, "walking-club"]


def test_a_template_id_is_generated_from_the_name(client, factory):
    response = client.post(
        URL,
        json=custom(id=None, name="Knee Rehab: 6 weeks!"),
        headers=factory.headers(factory.provider()),
    )
    assert response.status_code == 422  # id may be left out, not sent as null
    body = custom(name="Knee Rehab: 6 weeks!")
    del body["id"]
    created = client.post(URL, json=body, headers=factory.headers(factory.provider()))
    assert created.status_code == 201
    assert created.get_json()["id"].startswith("knee-rehab-6-weeks-")


@pytest.mark.parametrize("template_id", ["walking-club", "t2-diabetes"])
def test_taken_ids_conflict(client, factory, mongo, template_id):
    headers = factory.headers(factory.provider())
    client.post(URL, json=custom(), headers=headers)
    response = client.post(URL, json=custom(id=template_id, name="Other"), headers=headers)
    assert assert_problem(response, 409)["template_id"] == template_id
    assert mongo.agreement_templates.count_documents({}) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "Has Spaces"}, "id"),
        ({"name": ""}, "name"),
        ({"review_after": "quarterly"}, "review_after"),
        ({"goals": [{**GOAL, "id": "g_1"}]}, "goals.0.id"),
        (
            {"goals": [{**{k: v for k, v in GOAL.items() if k != "id"}, "measure": "mood"}]},
            "goals.0.measure",
        ),
        ({"checkups": [{**CHECKUP, "interval": "every spring"}]}, "checkups.0.interval"),
        ({"start_on": "2026-01-01"}, "start_on"),
        ({"education": [{"title": "x", "url": "ftp://example.org/a"}]}, "education.0.url"),
        ({"description": "d" * 2001}, "description"),
        ({"secret": True}, "secret"),
    ],
)
def test_bad_templates_are_refused(client, factory, mongo, changes, field):
    response = client.post(URL, json=custom(**changes), headers=factory.headers(factory.provider()))
    assert field in assert_problem(response, 422)["errors"]
    assert mongo.agreement_templates.count_documents({}) == 0


@pytest.mark.parametrize("template_id", BUILTIN)
def test_every_built_in_template_instantiates(client, factory, mongo, template_id):
    people = circle(factory, lean=True)
    response = client.post(
        people.url(),
        json={"template_id": template_id, "start_on": "2026-01-31"},
        headers=people.headers["provider"],
    )
    body = response.get_json()
    assert response.status_code == 201, body
    template = agreement_templates.builtins()[template_id]
    assert body["template_id"] == template_id
    assert body["title"] == template.content.title
    assert body["conditions"] == list(template.content.conditions)
    assert [g["title"] for g in body["goals"]] == [g.title for g in template.content.goals]
    assert [c["interval"] for c in body["checkups"]] == [
        c.interval for c in template.content.checkups
    ]
    template_ids = {g.id for g in template.content.goals}
    assert all(g["id"].startswith("g_") and g["id"] not in template_ids for g in body["goals"])
    expected_review = add_interval(date(2026, 1, 31), parse_interval(template.review_after))
    assert body["review_on"] == expected_review.isoformat()
    stored = mongo.agreements.find_one({"_id": ObjectId(body["id"])})
    assert stored["template_id"] == template_id
    assert len(stored["content"]["goals"]) == len(template.content.goals)
    # Proposing and accepting it works end to end.
    aid = body["id"]
    client.post(people.url(f"/{aid}/propose"), headers=people.headers["provider"])
    accepted = client.post(people.url(f"/{aid}/accept"), headers=people.headers["patient"])
    assert accepted.get_json()["status"] == "active"


def test_two_agreements_from_one_template_get_their_own_goal_ids(client, factory):
    people = circle(factory, lean=True)
    made = [
        client.post(
            people.url(), json={"template_id": "asthma"}, headers=people.headers["provider"]
        ).get_json()
        for _ in range(2)
    ]
    assert not {g["id"] for g in made[0]["goals"]} & {g["id"] for g in made[1]["goals"]}


def test_fields_sent_override_the_template(client, factory):
    people = circle(factory, lean=True)
    response = client.post(
        people.url(),
        json={"template_id": "t2-diabetes", "title": "Pat's plan", "goals": [GOAL]},
        headers=people.headers["provider"],
    )
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["title"] == "Pat's plan"
    assert [g["title"] for g in body["goals"]] == [GOAL["title"]]
    assert len(body["checkups"]) == 3


def test_a_providers_template_instantiates(client, factory):
    people = circle(factory, lean=True)
    client.post(URL, json=custom(), headers=people.headers["provider"])
    response = client.post(
        people.url(), json={"template_id": "walking-club"}, headers=people.headers["provider"]
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["conditions"] == ["obesity"]


def test_an_unknown_template_is_a_422_and_stores_nothing(client, factory, mongo):
    people = circle(factory, lean=True)
    response = client.post(
        people.url(), json={"template_id": "no-such-plan"}, headers=people.headers["provider"]
    )
    assert "template_id" in assert_problem(response, 422)["errors"]
    assert mongo.agreements.count_documents({}) == 0
