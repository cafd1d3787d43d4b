"""Signing in, triage and the session, in Chromium."""

import pytest

from tests.browser.world import build
from tests.factories import PASSWORD


@pytest.fixture
def world(client, factory):
    return build(client, factory)


def test_sign_in_lands_on_triage_with_strict_cookies_and_csp(console, world):
    response = console.open("/console/")
    assert "/console/login" in console.page.url
    console.accessible()
    console.sign_in(world.gp, PASSWORD)
    assert console.page.url.endswith("/console/")
    assert console.page.get_by_role("heading", name="Triage").is_visible()
    console.accessible()
    cookies = {c["name"]: c for c in console.page.context.cookies()}
    assert set(cookies) == {"access_token_cookie", "refresh_token_cookie"}
    for cookie in cookies.values():
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console/"
    # Script cannot read the session.
    assert console.page.evaluate("document.cookie") == ""
    response = console.open("/console/")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    # Signing out revokes: the old cookie no longer opens anything.
    saved = console.page.context.cookies()
    console.page.get_by_role("button", name="Sign out").click()
    console.page.wait_for_url("**/console/login?signed_out=1")
    console.page.context.add_cookies(saved)
    console.open("/console/")
    assert "/console/login" in console.page.url


def test_a_patient_signing_in_is_sent_to_the_app(console, world):
    console.sign_in(world.urgent, PASSWORD)
    assert console.page.get_by_role(
        "heading", name="This console is for your care team"
    ).is_visible()
    assert console.page.context.cookies() == []
    console.accessible()


def test_triage_buckets_search_and_condition_filter(console, world):
    console.sign_in(world.gp, PASSWORD)
    table = console.page.locator("table.panel tbody")
    assert table.get_by_role("link", name="Ursula Urgent").is_visible()
    assert table.get_by_role("link", name="Sam Steady").is_visible()
    assert "Stella" not in table.inner_text()
    console.page.get_by_role("link", name="Urgent alert 1").click()
    assert table.get_by_role("link", name="Ursula Urgent").is_visible()
    assert table.get_by_role("link", name="Sam Steady").count() == 0
    assert "1 urgent" in table.inner_text()
    console.accessible()
    console.page.get_by_role("link", name="All patients 2").click()
    console.page.get_by_label("Search by name").fill("sam")
    console.page.get_by_role("button", name="Apply").click()
    assert table.get_by_role("link", name="Sam Steady").is_visible()
    assert table.get_by_role("link", name="Ursula Urgent").count() == 0
    console.page.get_by_label("Search by name").fill("")
    # The select applies itself (progressive enhancement).
    with console.page.expect_navigation():
        console.page.get_by_label("Condition").select_option("type 2 diabetes")
    assert table.get_by_role("link", name="Ursula Urgent").is_visible()
    assert table.get_by_role("link", name="Sam Steady").count() == 0
    # Keyboard: the skip link is the first stop and moves to the content.
    console.page.keyboard.press("Tab")
    assert console.page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_tablet_width_and_an_expired_session_returns_to_the_page(console, world):
    console.page.set_viewport_size({"width": 768, "height": 1024})
    console.sign_in(world.gp, PASSWORD)
    wanted = f"/console/patients/{world.urgent.pk}"
    console.page.context.clear_cookies()
    console.open(wanted)
    assert "/console/login" in console.page.url
    console.page.get_by_label("Email").fill(world.gp.email)
    console.page.get_by_label("Password").fill(PASSWORD)
    console.page.get_by_role("button", name="Sign in").click()
    console.page.wait_for_url("**" + wanted)
    width = console.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768
    console.accessible()
