"""The alerts worklist, the clinic's population and a campaign dry run, and the admin pages,
in Chromium."""

import pytest

from api.clock import utcnow
from api.services.clinic import clinics
from api.services.flows import clinics as clinic_flow
from tests.browser.world import build
from tests.factories import PASSWORD


@pytest.fixture
def world(client, factory):
    return build(client, factory)


def test_alerts_worklist_acknowledge(console, world, mongo):
    console.sign_in(world.gp, PASSWORD)
    page = console.page
    page.get_by_role("link", name="Alerts").click()
    row = page.locator("tr", has=page.get_by_role("link", name="Ursula Urgent"))
    assert "urgent" in row.inner_text() and "(America/Chicago)" in row.inner_text()
    console.accessible()
    row.get_by_label("Note for Ursula Urgent").fill("Seen at the clinic today")
    row.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_role("status").first.inner_text() == "Alert acknowledged."
    assert "No open alerts." in page.locator("tbody").inner_text()
    alert = mongo.alerts.find_one({"patient": world.urgent.pk})
    assert alert["status"] == "acknowledged" and alert["note"] == "Seen at the clinic today"


def test_population_and_a_campaign_dry_run(console, world, factory, mongo):
    clinic = clinics.create_clinic(
        name="Riverside Test Practice", created_by=world.gp.pk, now=utcnow()
    )
    clinic_flow.add_provider(clinic_id=clinic.pk, provider_id=str(world.gp.pk), now=utcnow())
    console.sign_in(world.gp, PASSWORD)
    page = console.page
    page.get_by_role("link", name="Clinic").click()
    assert page.get_by_role("heading", name="Riverside Test Practice").is_visible()
    assert "HbA1c" in page.locator("table").first.inner_text()
    console.accessible()
    page.get_by_label("Condition", exact=True).fill("type 2 diabetes")
    page.get_by_role("button", name="Count the cohort (dry run)").click()
    assert "Dry run: 1 patient would receive this" in page.locator("#dry-run").inner_text()
    assert mongo.campaigns.count_documents({}) == 0
    # Sending without a message: the form names what is missing and keeps the cohort.
    page.on("dialog", lambda dialog: dialog.accept())  # "Send this message to the cohort?"
    page.get_by_role("button", name="Send campaign").click()
    assert "title:" in page.locator(".alert-box").inner_text()
    assert page.get_by_label("Condition", exact=True).input_value() == "type 2 diabetes"
    assert mongo.campaigns.count_documents({}) == 0
    console.accessible()
    page.get_by_label("Campaign name").fill("HbA1c recall")
    page.get_by_label("Message title").fill("Time for your HbA1c")
    page.get_by_label("Message", exact=True).fill("Please book your HbA1c test this month.")
    page.get_by_role("button", name="Send campaign").click()
    assert page.get_by_role("heading", name="HbA1c recall").is_visible()
    assert "Targeted" in page.content()
    stored = mongo.campaigns.find_one({})
    assert stored["targets"] == [world.urgent.pk]
    console.accessible()


def test_admin_manages_clinics_and_provider_accounts(console, world, factory, mongo):
    admin = factory.admin(name="Ada Admin")
    console.sign_in(admin, PASSWORD)
    page = console.page
    assert page.get_by_role("heading", name="Administration").is_visible()
    console.accessible()
    page.get_by_label("Clinic name").fill("Hillside Clinic")
    page.get_by_role("button", name="Create clinic").click()
    assert page.get_by_role("heading", name="Hillside Clinic").is_visible()
    page.get_by_label("Add a provider to Hillside Clinic").select_option(
        label="Dr Grace Patel (primary care)"
    )
    page.get_by_role("button", name="Add").click()
    assert "Dr Grace Patel" in page.locator(".card", has_text="Hillside Clinic").inner_text()
    page.get_by_label("Name", exact=True).fill("Dr New Person")
    page.get_by_label("Email").fill(world.specialist.email)  # taken
    page.get_by_label("Specialty").fill("cardiology")
    page.get_by_role("button", name="Create provider").click()
    assert "email:" in page.locator(".alert-box").inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "Dr New Person"
    console.accessible()
    page.get_by_label("Email").fill("new.person@example.org")
    page.get_by_role("button", name="Create provider").click()
    assert page.get_by_role("status").inner_text() == (
        "Provider account created; a set-up code was mailed to them."
    )
    created = mongo.users.find_one({"email": "new.person@example.org"})
    assert created["role"] == "provider" and not created.get("password_hash")
    assert mongo.outbox.find_one({"to": "new.person@example.org"}) is not None
    # A provider cannot open the admin pages.
    console.page.context.clear_cookies()
    console.sign_in(world.gp, PASSWORD)
    response = console.open("/console/admin")
    assert response.status == 403
