"""Authoring an agreement in Chromium: from a template, a goal refused then fixed, proposed;
then an active plan revised (the patient accepts it in the app)."""

import pytest

from tests.browser.world import build
from tests.factories import PASSWORD


@pytest.fixture
def world(client, factory):
    return build(client, factory)


def test_author_from_a_template_fix_a_goal_and_propose(console, world, mongo):
    console.sign_in(world.gp, PASSWORD)
    page = console.page
    console.open(f"/console/patients/{world.steady.pk}")
    page.get_by_role("link", name="New agreement").click()
    console.accessible()
    page.get_by_label("Hypertension").check()
    page.get_by_role("button", name="Create draft").click()
    assert "Status: Draft" in page.locator("#agreement-status").inner_text()
    draft = mongo.agreements.find_one({"patient": world.steady.pk, "status": "draft"})
    assert draft["template_id"] == "hypertension"
    console.accessible()
    new_goal = page.locator("form", has=page.get_by_role("button", name="Add goal"))
    new_goal.get_by_label("Goal").fill("Home blood pressure")
    new_goal.get_by_label("Measure").select_option("blood_pressure_systolic")
    new_goal.get_by_label("Unit").fill("mmHg")
    new_goal.get_by_label("Target").select_option("between")
    new_goal.get_by_label("Low (between)").fill("140")
    new_goal.get_by_label("High (between)").fill("110")
    new_goal.get_by_role("button", name="Add goal").click()
    refused = page.locator("form", has=page.get_by_role("button", name="Add goal"))
    assert "low: Must not be greater than high." in refused.inner_text()
    assert refused.get_by_label("Goal").input_value() == "Home blood pressure"
    assert refused.get_by_label("Low (between)").input_value() == "140"
    console.accessible()
    refused.get_by_label("Low (between)").fill("100")
    refused.get_by_label("High (between)").fill("135")
    refused.get_by_role("button", name="Add goal").click()
    stored = mongo.agreements.find_one({"_id": draft["_id"]})
    titles = [g["title"] for g in stored["content"]["goals"]]
    assert "Home blood pressure" in titles
    page.get_by_role("button", name="Propose to the patient").click()
    assert "Proposed, awaiting the patient" in page.locator("#agreement-status").inner_text()
    assert mongo.agreements.find_one({"_id": draft["_id"]})["status"] == "proposed"


def test_revise_an_active_agreement(console, world, mongo):
    console.sign_in(world.gp, PASSWORD)
    page = console.page
    console.open(f"/console/patients/{world.urgent.pk}")
    page.get_by_role("link", name="Open or revise").first.click()
    assert "Status: Active" in page.locator("#agreement-status").inner_text()
    checkup = page.locator("form", has=page.get_by_role("button", name="Save check-up"))
    checkup.get_by_label("Every").fill("P6M")
    checkup.get_by_role("button", name="Save check-up").click()
    assert "revision awaiting the patient" in page.locator("#agreement-status").inner_text()
    stored = mongo.agreements.find_one({"patient": world.urgent.pk, "status": "active"})
    assert stored["content"]["checkups"][0]["interval"] == "P3M"  # still in force
    assert stored["revision"]["checkups"][0]["interval"] == "P6M"
    console.accessible()
