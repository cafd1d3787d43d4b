"""The patient page's workflows in Chromium: open, acknowledge, check-up with the duplicate
refusal, message, mark reviewed, a forged CSRF token, and another team's patient."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.world import build
from tests.factories import PASSWORD


@pytest.fixture
def world(client, factory):
    return build(client, factory)


@pytest.fixture
def signed_in(console, world):
    console.sign_in(world.gp, PASSWORD)
    return console


def open_patient(console, name):
    console.page.locator("table.panel").get_by_role("link", name=name).click()
    console.page.wait_for_load_state()


def test_open_a_patient_shows_plan_charts_and_times_in_their_zone(signed_in, world):
    open_patient(signed_in, "Ursula Urgent")
    page = signed_in.page
    assert page.get_by_role("heading", name="Ursula Urgent").is_visible()
    assert page.get_by_text("America/Chicago (times on this page").is_visible()
    assert page.get_by_role("img", name="Adherence to Glucose between 70 and 180").count() == 1
    assert page.get_by_role("img", name="Glucose between 70 and 180 readings").count() == 1
    assert page.get_by_role("img", name="by hour of day").count() == 1
    assert page.locator("svg.chart circle.dot.out").count() == 1  # the 320 reading
    assert "(America/Chicago)" in page.locator("#alerts").inner_text()
    signed_in.accessible()
    report = page.get_by_role("link", name="Printable visit report")
    with page.expect_navigation():
        report.click()
    assert "Ursula Urgent" in page.content()
    assert signed_in.outside == [] and signed_in.csp_violations == []


def test_acknowledge_an_alert_with_a_note(signed_in, world, mongo):
    open_patient(signed_in, "Ursula Urgent")
    page = signed_in.page
    page.get_by_label("Note (optional)").first.fill("Called her; insulin adjusted.")
    page.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_role("status").inner_text() == "Alert acknowledged."
    alert = mongo.alerts.find_one({"patient": world.urgent.pk})
    assert alert["status"] == "acknowledged" and alert["acknowledged_by"] == world.gp.pk
    assert alert["note"] == "Called her; insulin adjusted."
    assert "Called her; insulin adjusted." in page.locator("#alerts").inner_text()
    signed_in.accessible()


def test_record_a_check_up_meets_the_duplicate_refusal_then_confirms(signed_in, world, mongo):
    open_patient(signed_in, "Ursula Urgent")
    page = signed_in.page
    section = page.locator("#checkups")
    # A date in the future: the form comes back naming the field, input kept.
    future = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    section.get_by_label("Done on (patient's date)").fill(future)
    section.get_by_label("Result (optional)").fill("6.9 %")
    section.get_by_role("button", name="Record completion").click()
    assert "done on: Must not be in the future" in section.inner_text()
    assert section.get_by_label("Result (optional)").input_value() == "6.9 %"
    signed_in.accessible()
    today = datetime.now(ZoneInfo("America/Chicago")).date().isoformat()  # the patient's day
    section.get_by_label("Done on (patient's date)").fill(today)
    section.get_by_role("button", name="Record completion").click()
    warning = section.get_by_role("alert")
    assert "Already done recently" in warning.inner_text()
    assert "Dr Omar Said" in warning.inner_text() and "endocrinology" in warning.inner_text()
    assert mongo.checkup_completions.count_documents({"patient": world.urgent.pk}) == 1
    signed_in.accessible()
    section.get_by_label("Record it anyway").check()
    section.get_by_role("button", name="Record completion").click()
    assert "reason: Give the reason" in section.inner_text()
    section.get_by_label("Reason for repeating").fill("Lab sample was haemolysed")
    section.get_by_role("button", name="Record completion").click()
    assert page.get_by_role("status").inner_text() == "Check-up recorded."
    repeat = mongo.checkup_completions.find_one(
        {"patient": world.urgent.pk, "confirmed_duplicate": True}
    )
    assert repeat["duplicate_reason"] == "Lab sample was haemolysed"
    assert repeat["recorded_by"] == world.gp.pk and repeat["result"] == "6.9 %"


def test_send_a_message_and_mark_reviewed(signed_in, world, mongo):
    open_patient(signed_in, "Ursula Urgent")
    page = signed_in.page
    page.get_by_role("button", name="Send").click()
    assert "message:" in page.locator("#thread").inner_text()
    page.get_by_label("Message to the patient and care team").fill(
        "Please log your lunch reading too."
    )
    page.get_by_role("button", name="Send").click()
    assert "Please log your lunch reading too." in page.locator("#thread").inner_text()
    assert mongo.messages.find_one({"patient": world.urgent.pk})["author"] == world.gp.pk
    page.get_by_role("button", name="Mark reviewed").click()
    assert "by Dr Grace Patel" in page.locator("#last-reviewed").inner_text()
    page.get_by_role("link", name="Triage").click()
    row = page.locator("tr", has=page.get_by_role("link", name="Ursula Urgent"))
    assert "by Dr Grace Patel" in row.inner_text()
    signed_in.accessible()


def test_a_forged_csrf_token_is_refused_and_changes_nothing(signed_in, world, mongo):
    open_patient(signed_in, "Ursula Urgent")
    page = signed_in.page
    page.locator("#review input[name=csrf_token]").evaluate("input => input.value = 'forged'")
    page.get_by_role("button", name="Mark reviewed").click()
    assert page.get_by_role("heading", name="Refused").is_visible()
    assert mongo.adherence_summaries.find_one({"_id": world.urgent.pk}).get("reviewed_at") is None
    page.go_back()
    page.locator("#review input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_role("button", name="Mark reviewed").click()
    assert page.get_by_role("heading", name="Refused").is_visible()
    assert mongo.adherence_summaries.find_one({"_id": world.urgent.pk}).get("reviewed_at") is None


def test_another_teams_patient_is_a_404_page(signed_in, world):
    response = signed_in.open(f"/console/patients/{world.stranger.pk}")
    assert response.status == 404
    assert signed_in.page.get_by_role("heading", name="Not found").is_visible()
    signed_in.accessible()
