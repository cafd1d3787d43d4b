"""Bad agreement input: each case a 422 naming the field, and nothing stored or changed."""

import copy

import pytest
from bson import ObjectId

from tests.agreement_helpers import CHECKUP, EDUCATION, GOAL, circle, plan
from tests.test_foundation import assert_problem


def goal(**changes):
    return {**copy.deepcopy(GOAL), **changes}


def checkup(**changes):
    return {**copy.deepcopy(CHECKUP), **changes}


GLUCOSE = {"kind": "monitoring", "measure": "blood_glucose", "unit": "mmol/L"}

BAD = [
    (
        "low above high",
        {"goals": [goal(target={"op": "between", "low": 50, "high": 20})]},
        "goals.0.target.low",
    ),
    ("unknown measure", {"goals": [goal(measure="happiness")]}, "goals.0.measure"),
    ("unknown unit", {"goals": [goal(unit="hours and hours")]}, "goals.0.unit"),
    ("unit of another measure", {"goals": [goal(unit="mg/dL")]}, "goals.0.unit"),
    (
        "negative value",
        {"goals": [goal(target={"op": "at_least", "value": -5})]},
        "goals.0.target.value",
    ),
    (
        "absurd value",
        {"goals": [goal(target={"op": "at_least", "value": 1e9})]},
        "goals.0.target.value",
    ),
    (
        "more minutes than a day has",
        {"goals": [goal(target={"op": "at_least", "value": 1500})]},
        "goals.0.target.value",
    ),
    (
        "absurd glucose in mmol/L",
        {"goals": [goal(**GLUCOSE, target={"op": "between", "low": 4, "high": 100})]},
        "goals.0.target.high",
    ),
    (
        "implausible glucose reading",
        {"goals": [goal(**GLUCOSE, target={"op": "at_least", "value": 0.1})]},
        "goals.0.target.value",
    ),
    (
        "between without high",
        {"goals": [goal(target={"op": "between", "low": 5})]},
        "goals.0.target.high",
    ),
    (
        "at_least with low",
        {"goals": [goal(target={"op": "at_least", "value": 5, "low": 1})]},
        "goals.0.target.low",
    ),
    ("unknown op", {"goals": [goal(target={"op": "exactly", "value": 5})]}, "goals.0.target.op"),
    (
        "value as words",
        {"goals": [goal(target={"op": "at_least", "value": "lots"})]},
        "goals.0.target.value",
    ),
    (
        "value as a boolean",
        {"goals": [goal(target={"op": "at_least", "value": True})]},
        "goals.0.target.value",
    ),
    (
        "target missing",
        {"goals": [{k: v for k, v in GOAL.items() if k != "target"}]},
        "goals.0.target",
    ),
    ("reminder hour 25", {"goals": [goal(reminder_times=["25:00"])]}, "goals.0.reminder_times.0"),
    (
        "reminder without leading zero",
        {"goals": [goal(reminder_times=["08:00", "7:30"])]},
        "goals.0.reminder_times.1",
    ),
    (
        "reminder twice",
        {"goals": [goal(reminder_times=["08:00", "08:00"])]},
        "goals.0.reminder_times",
    ),
    (
        "too many reminders",
        {"goals": [goal(reminder_times=[f"{h:02}:00" for h in range(13)])]},
        "goals.0.reminder_times",
    ),
    ("unknown kind", {"goals": [goal(kind="sleep")]}, "goals.0.kind"),
    ("monthly period", {"goals": [goal(period="month")]}, "goals.0.period"),
    ("goal title too long", {"goals": [goal(title="x" * 201)]}, "goals.0.title"),
    ("unknown goal field", {"goals": [goal(colour="blue")]}, "goals.0.colour"),
    ("51 goals", {"goals": [goal() for _ in range(51)]}, "goals"),
    ("goals not a list", {"goals": "walk more"}, "goals"),
    ("interval in words", {"checkups": [checkup(interval="3 months")]}, "checkups.0.interval"),
    ("interval with a time part", {"checkups": [checkup(interval="PT1H")]}, "checkups.0.interval"),
    ("zero interval", {"checkups": [checkup(interval="P0D")]}, "checkups.0.interval"),
    ("interval of a century", {"checkups": [checkup(interval="P100Y")]}, "checkups.0.interval"),
    (
        "reminder beyond a year",
        {"checkups": [checkup(remind_days_before=[400])]},
        "checkups.0.remind_days_before.0",
    ),
    (
        "reminder longer than the interval",
        {"checkups": [checkup(interval="P1M", remind_days_before=[60])]},
        "checkups.0.remind_days_before",
    ),
    (
        "reminder days as text",
        {"checkups": [checkup(remind_days_before=["7"])]},
        "checkups.0.remind_days_before.0",
    ),
    ("check-up code too long", {"checkups": [checkup(code="c" * 41)]}, "checkups.0.code"),
    (
        "plain http link",
        {"education": [{**EDUCATION, "url": "http://example.org/a"}]},
        "education.0.url",
    ),
    (
        "javascript link",
        {"education": [{**EDUCATION, "url": "javascript:alert(1)"}]},
        "education.0.url",
    ),
    ("education pointing nowhere", {"education": [{"title": "Read this"}]}, "education.0.url"),
    ("title too long", {"title": "t" * 201}, "title"),
    ("huge title", {"title": "t" * 100_000}, "title"),
    ("empty title", {"title": ""}, "title"),
    ("condition too long", {"conditions": ["c" * 81]}, "conditions.0"),
    ("21 conditions", {"conditions": [f"condition {n}" for n in range(21)]}, "conditions"),
    ("review before start", {"start_on": "2026-05-01", "review_on": "2026-04-01"}, "review_on"),
    ("not a date", {"start_on": "next monday"}, "start_on"),
    ("unknown field", {"colour": "blue"}, "colour"),
]


def _case_ids():
    return [case[0] for case in BAD]


@pytest.mark.parametrize(("case", "changes", "field"), BAD, ids=_case_ids())
def test_bad_input_when_creating_stores_nothing(client, factory, mongo, case, changes, field):
    people = circle(factory, lean=True)
    response = client.post(people.url(), json=plan(**changes), headers=people.headers["provider"])
    problem = assert_problem(response, 422)
    assert field in problem["errors"], (case, problem["errors"])
    assert mongo.agreements.count_documents({}) == 0


@pytest.mark.parametrize(("case", "changes", "field"), BAD, ids=_case_ids())
def test_bad_input_when_editing_changes_nothing(client, factory, mongo, case, changes, field):
    people = circle(factory, lean=True)
    aid = client.post(people.url(), json=plan(), headers=people.headers["provider"]).get_json()[
        "id"
    ]
    before = mongo.agreements.find_one({"_id": ObjectId(aid)})
    response = client.patch(
        people.url(f"/{aid}"),
        json=changes,
        headers={**people.headers["provider"], "If-Match": '"v1"'},
    )
    problem = assert_problem(response, 422)
    assert field in problem["errors"], (case, problem["errors"])
    assert mongo.agreements.find_one({"_id": ObjectId(aid)}) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"conditions": ["asthma"]}, [], "a plan"],
    ids=["empty", "no title", "a list", "a string"],
)
def test_a_draft_needs_a_title_and_an_object(client, factory, mongo, body):
    people = circle(factory, lean=True)
    response = client.post(people.url(), json=body, headers=people.headers["provider"])
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)
    assert mongo.agreements.count_documents({}) == 0


def test_an_empty_patch_is_refused(client, factory, mongo):
    people = circle(factory, lean=True)
    aid = client.post(people.url(), json=plan(), headers=people.headers["provider"]).get_json()[
        "id"
    ]
    response = client.patch(
        people.url(f"/{aid}"), json={}, headers={**people.headers["provider"], "If-Match": '"v1"'}
    )
    assert "_body" in assert_problem(response, 422)["errors"]


def test_plausible_limits_are_accepted(client, factory):
    """The registry's bounds, not guesses: a week may hold 7 days' minutes, glucose in mmol/L."""
    people = circle(factory, lean=True)
    goals = [
        goal(target={"op": "at_least", "value": 1500}, period="week"),
        goal(**GLUCOSE, target={"op": "between", "low": 4, "high": 10}),
        goal(kind="weight", measure="weight", unit="lb", target={"op": "at_most", "value": 200}),
    ]
    response = client.post(
        people.url(),
        json=plan(goals=goals, education=[{"title": "Library item", "item_id": "edu_1"}]),
        headers=people.headers["provider"],
    )
    assert response.status_code == 201, response.get_json()
    assert [g["unit"] for g in response.get_json()["goals"]] == ["min", "mmol/L", "lb"]
