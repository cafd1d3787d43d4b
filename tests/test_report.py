"""The visit report through HTTP: printable HTML with inline SVG charts, nothing loaded from
elsewhere, hostile names escaped; for a patient with no logs and one with a year of them."""

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from api.clock import utcnow
from api.models.agreement import Checkup
from api.services.flows import checkups as checkup_flow
from api.services.records import report
from tests.log_helpers import GLUCOSE, WALK, WEEKLY_WALK, entry, plan
from tests.test_foundation import assert_problem

HOSTILE = "<script>alert(1)</script>"


def url(p, pid=None):
    return f"/api/v1/patients/{pid or p.patient.pk}/report"


def fetch(client, p, headers=None) -> str:
    response = client.get(url(p), headers=headers or p.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert_self_contained(html, response.headers["Content-Security-Policy"])
    return html


def assert_self_contained(html: str, policy: str) -> None:
    """No script, nothing fetched from anywhere, and the style block allowed by its hash."""
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html and "//" not in html
    assert not re.search(r"<[^>]*\s(src|href)=", html)
    assert "default-src 'none'" in policy and "unsafe" not in policy
    (style,) = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy


def batch(client, p, entries):
    for first in range(0, len(entries), 500):
        response = client.post(
            f"/api/v1/patients/{p.patient.pk}/logs/batch",
            json={"entries": entries[first : first + 500]},
            headers=p.headers,
        )
        assert response.status_code == 200, response.get_json()
        assert {r["status"] for r in response.get_json()["results"]} == {"created"}


def cells(html: str, state: str) -> int:
    return len(re.findall(rf'<rect class="{state}"', html))


def test_a_patient_with_no_logs(client, factory):
    p = plan(factory, goals=(WALK, GLUCOSE), name="Ana Ruiz")

    html = fetch(client, p)

    assert "Visit report: Ana Ruiz" in html
    assert "Type 2 diabetes plan (active)" in html
    assert "Walk 30 minutes a day" in html and "at least 30 min a day" in html
    assert "70 to 180 mg/dL a day" in html
    assert html.count("<svg") == 2
    assert cells(html, "met") == 0
    assert "No readings out of range." in html
    assert "No tests recorded." in html
    assert "No unresolved alerts." in html


def test_a_patient_without_any_agreement(client, factory):
    patient = factory.patient()
    response = client.get("/api/v1/patients/me/report", headers=factory.headers(patient))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "No agreement is active or awaiting the patient." in html
    assert "No goals in force over this period." in html
    assert "<svg" not in html


def test_a_year_of_logs(client, factory, mongo):
    now = datetime.now(UTC)
    p = plan(
        factory,
        goals=(WALK, GLUCOSE, WEEKLY_WALK),
        tz="America/Chicago",
        active_since=now - timedelta(days=400),
    )
    p.agreement.content.checkups = [
        Checkup(id="c_a1c", name="HbA1c", code="4548-4", interval="P3M")
    ]
    p.agreement.save()
    start = now - timedelta(days=365)
    entries = []
    for day in range(365):
        at = start + timedelta(days=day, hours=1)
        # Walking is met on every day but each fifth; glucose is high on each tenth day.
        entries.append(entry(p, goal="g_walk", value=10 if day % 5 == 0 else 40, at=at))
        entries.append(entry(p, goal="g_glucose", value=250 if day % 10 == 0 else 110, at=at))
    batch(client, p, entries)
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 730
    checkup_flow.record_completion(
        patient_id=p.patient.pk,
        checkup_id="c_a1c",
        data={"done_on": (now - timedelta(days=30)).date(), "result": "7.1 %"},
        recorded_by=p.provider.pk,
        recorded_by_role="provider",
        self_reported=False,
        now=utcnow(),
    )

    html = fetch(client, p)

    assert html.count("<svg") == 3
    walk = html[html.index("<h3>Walk 30 minutes a day</h3>") :]
    walk = walk[: walk.index("</svg>")]
    # 90 daily cells: about four in five met.
    assert cells(walk, "met") + cells(walk, "missed") + cells(walk, "in-progress") == 90
    assert 65 <= cells(walk, "met") <= 75
    assert re.search(r"\d+\.\d % of days met \(\d+ of \d+\)", walk)
    assert '<polyline class="line" points="' in walk
    weekly = html[html.index("<h3>150 minutes a week</h3>") :]
    weekly = weekly[: weekly.index("</svg>")]
    assert 13 <= weekly.count("<rect class=") - 1 <= 14  # weeks, besides the frame
    # Out-of-range glucose readings of the last 30 days: 250 mg/dL on every tenth day.
    table = html[html.index("Readings out of range") :]
    assert table.count("250 mg/dL") in (3, 4)
    assert "110 mg/dL" not in table
    assert "HbA1c" in html and "7.1 %" in html


def test_hostile_names_are_escaped(client, factory):
    goal = {**WALK, "title": HOSTILE}
    p = plan(factory, goals=(goal,), name='<img src=x onerror="alert(2)">')
    p.agreement.content.title = 'Plan "</style><script>'
    p.agreement.content.conditions = ["<b>bold</b>"]
    p.agreement.save()
    batch(client, p, [entry(p, goal="g_walk", value=45)])

    response = client.get(url(p), headers=p.headers)

    html = response.get_data(as_text=True)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "Plan &#34;&lt;/style&gt;&lt;script&gt;" in html
    assert 'aria-label="Adherence to &lt;script&gt;alert(1)&lt;/script&gt; per day"' in html
    assert_self_contained(html, response.headers["Content-Security-Policy"])


def test_the_team_and_caregivers_read_it_others_get_404(client, factory):
    p = plan(factory)
    assert fetch(client, p, headers=factory.headers(p.provider))
    caregiver = factory.patient()
    factory.grant(p.patient, caregiver, permissions=("view",))
    assert fetch(client, p, headers=factory.headers(caregiver))
    for outsider in (factory.provider(), factory.patient()):
        assert_problem(client.get(url(p), headers=factory.headers(outsider)), 404)
    assert_problem(client.get(url(p, pid="me"), headers=factory.headers(p.provider)), 404)
    assert_problem(client.get(url(p)), 401)


@pytest.mark.parametrize("period, expected", [("day", 90), ("week", 14)])
def test_a_chart_has_one_cell_per_period(period, expected):
    today = datetime(2026, 3, 31).date()
    first = today - timedelta(days=report.REPORT_DAYS - 1)
    step = 7 if period == "week" else 1
    start = first - timedelta(days=first.weekday()) if period == "week" else first
    series = [
        {"date": start + timedelta(days=step * n), "met": n % 2 == 0, "in_progress": False}
        for n in range(expected)
    ]
    goal_report = {
        "title": "t",
        "percent": 50.0,
        "days": expected,
        "days_met": expected // 2,
        "current_streak": 0,
        "period": period,
        "series": series,
    }
    chart = report.chart(goal_report, first, today)
    assert len(chart.cells) == expected
    assert chart.cells[-1].x + chart.cells[-1].width <= report.CHART_WIDTH
    assert len(chart.line.split()) == expected
