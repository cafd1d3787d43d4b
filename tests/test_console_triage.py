"""The console's triage page through HTTP: the "no data for 7 days" bucket, and the search by
name and by condition (what users expect of case and accents; through an index)."""

import html
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from api.clock import utcnow
from api.models.care_team import CareTeamMember
from api.services.clinic import panel, panel_search
from api.services.common import local_days
from api.services.flows import days
from tests.log_helpers import WALK
from tests.test_console_session import SECURE, sign_in
from tests.test_panel import join

ROW_NAME = re.compile(r'<th scope="row"><a href="/console/patients/[0-9a-f]+">([^<]*)</a>')


def names_on(client, query: str = "") -> list[str]:
    response = client.get(f"/console/{query}", base_url=SECURE)
    assert response.status_code == 200, response.status_code
    return sorted(html.unescape(name) for name in ROW_NAME.findall(response.text))


def bucket_count(client, view: str) -> int:
    page = client.get("/console/", base_url=SECURE).text
    return int(re.search(rf'class="bucket-{view}"[^>]*>[^<]*<strong>(\d+)</strong>', page)[1])


def on_panel(factory, provider, name: str, conditions=("type 2 diabetes",)):
    """A patient with a daily walk, on `provider`'s panel through the membership flow."""
    patient = factory.patient(name=name, timezone="UTC")
    agreement = factory.agreement(
        patient, provider, goals=[dict(WALK)], conditions=list(conditions)
    )
    join(patient, provider)
    return patient, agreement


def log_walk(client, factory, patient, agreement, days_ago: float) -> None:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    entry = {
        "id": str(uuid.uuid4()),
        "agreement_id": str(agreement.pk),
        "goal_id": "g_walk",
        "occurred_at": at.isoformat(),
        "value": 40,
    }
    response = client.post("/api/v1/patients/me/logs", json=entry, headers=factory.headers(patient))
    assert response.status_code == 201, response.get_json()


def test_no_data_for_7_days_bucket_holds_8_days_not_6(client, factory):
    provider = factory.provider(name="Dr Nadia Week")
    six, six_plan = on_panel(factory, provider, "Sara Sixdays")
    eight, eight_plan = on_panel(factory, provider, "Otto Eightdays")
    log_walk(client, factory, six, six_plan, 6)
    log_walk(client, factory, eight, eight_plan, 8)
    now = utcnow()
    for patient in (six, eight):  # the nightly close-out judges them today
        days.close_day(patient, local_days.today(now, "UTC") - timedelta(days=1), now=now)

    assert sign_in(client, provider).status_code == 303
    assert names_on(client, "?view=no_data_7d") == ["Otto Eightdays"]
    assert bucket_count(client, "no_data_7d") == 1
    page = client.get("/console/?view=no_data_7d", base_url=SECURE).text
    assert "No data for 7 days" in page and "No data for 3 days" not in page
    # The panel API's `no_recent_logs` keeps its 3 days: both are flagged there.
    response = client.get("/api/v1/panel?flag=no_recent_logs", headers=factory.headers(provider))
    assert response.status_code == 200
    assert sorted(e["patient"]["name"] for e in response.get_json()) == [
        "Otto Eightdays",
        "Sara Sixdays",
    ]
    assert all("no_data_7d" not in e["flags"] for e in response.get_json())
    # A reading today takes Otto out of the bucket at once, not at the next nightly run.
    log_walk(client, factory, eight, eight_plan, 0.1)
    assert names_on(client, "?view=no_data_7d") == []
    assert bucket_count(client, "no_data_7d") == 0


def assert_indexed(query: dict, what: str) -> None:
    plan = json.dumps(panel_search.terms().find(query).explain()["queryPlanner"], default=str)
    assert "COLLSCAN" not in plan and "IXSCAN" in plan, (what, plan)


def test_search_by_name_and_condition_as_users_expect_through_an_index(client, factory):
    provider = factory.provider(name="Dr Lena Search")
    other = factory.provider()
    zoe, _ = on_panel(factory, provider, "Zoë Ångström-Lind", conditions=["asthma"])
    on_panel(factory, provider, "Seán O'Brien")
    anna, _ = on_panel(factory, provider, "Anna Zimmer", conditions=["type 2 diabetes", "asthma"])
    on_panel(factory, provider, "Zack Young", conditions=["hypertension"])
    on_panel(factory, other, "Zoe Elsewhere")
    assert sign_in(client, provider).status_code == 303

    zoe_only = ["Zoë Ångström-Lind"]
    for typed in ("zoe", "ZOË", "angs", "ÅNGSTRÖM", "lind", "zoe angstrom l", "  Zoe  "):
        assert names_on(client, f"?q={typed}") == zoe_only, typed
    for typed in ("obrien", "O'Brien", "o\u2019brien", "sean o", "SEAN"):
        assert names_on(client, f"?q={typed}") == ["Seán O'Brien"], typed
    # A word's start, as in every clinic directory: "z" finds three, "imm" nobody.
    assert names_on(client, "?q=z") == ["Anna Zimmer", "Zack Young", "Zoë Ångström-Lind"]
    assert names_on(client, "?q=imm") == []
    assert names_on(client, "?q=!!!") == []
    assert "Zoe Elsewhere" not in names_on(client, "?q=elsewhere")

    assert names_on(client, "?condition=asthma") == ["Anna Zimmer", "Zoë Ångström-Lind"]
    assert names_on(client, "?condition=Type 2  Diabetes") == ["Anna Zimmer", "Seán O'Brien"]
    assert names_on(client, "?condition=asthma&q=zo") == zoe_only
    assert names_on(client, "?condition=hypertension&q=zo") == []
    # Within a bucket, and paged by the panel's order.
    assert names_on(client, "?view=low_adherence&q=z") == []

    # A new name is searchable at once (the profile flow); the old one is gone.
    response = client.patch("/api/v1/me", json={"name": "Anna Berg"}, headers=factory.headers(anna))
    assert response.status_code == 200, response.get_json()
    assert names_on(client, "?q=zimmer") == []
    assert names_on(client, "?q=berg") == ["Anna Berg"]
    # A membership ended takes the patient out of the search too.
    member = CareTeamMember.objects.get(patient=zoe.pk, provider=provider.pk)
    response = client.delete(
        f"/api/v1/patients/{zoe.pk}/care-team/{member.pk}", headers=factory.headers(zoe)
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    assert names_on(client, "?q=zoe") == []
    assert not list(panel_search.terms().find({"patient": zoe.pk, "provider": provider.pk}))

    assert_indexed(panel_search.find_query(provider.pk, name="zoe"), "a name's prefix")
    assert_indexed(panel_search.find_query(provider.pk, condition="asthma"), "a condition")
    rows = panel.rows().find({"_id": {"$in": [f"{provider.pk}:all:{anna.pk}"]}})
    assert "COLLSCAN" not in json.dumps(rows.explain()["queryPlanner"], default=str)
