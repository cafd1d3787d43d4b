"""Real Chromium (Debian's, by path) against the app served on loopback by a real server.

One browser for the session, a fresh context (cookies) and database per test. Each test
fails on any request that leaves the server, any CSP violation the page reports, and any
serious or critical axe-core finding on a page it checks; a failing test leaves a
screenshot under var/browser-failures/.
"""

import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
FAILURES = ROOT / "var" / "browser-failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def server(app):
    """The app behind werkzeug's threaded server on a free loopback port."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    # localhost is a secure context, so the console's Secure cookies work over plain HTTP.
    yield f"http://localhost:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)


class Console:
    """A page plus what every test checks about it."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.outside: list[str] = []
        self.csp_violations: list[str] = []
        page.on("request", self._request)
        page.on("console", self._console)

    def _request(self, request):
        if not request.url.startswith(self.base) and not request.url.startswith("data:"):
            self.outside.append(request.url)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def open(self, path: str):
        response = self.page.goto(self.base + path)
        return response

    def sign_in(self, user, password):
        self.open("/console/login")
        self.page.get_by_label("Email").fill(user.email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def accessible(self):
        """axe-core inside the page (evaluated over the developer protocol, so the page's
        CSP still forbids any inline script of its own): no serious or critical finding."""
        self.page.evaluate(AXE)
        found = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' '))})`)"""
        )
        assert found == [], f"{self.page.url}: {found}"
        assert self.csp_violations == []
        assert self.outside == []


@pytest.fixture
def console(request, browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Console(page, server)
    if getattr(request.node, "browser_failed", False):
        FAILURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FAILURES / f"{request.node.name}.png"), full_page=True)
    context.close()
