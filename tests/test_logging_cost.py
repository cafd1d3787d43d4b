"""What a logged reading costs: four commands once its agreement and the patient's token
are remembered (agreement_memory, session_memory), none for the alert rules when no rule
can move; and a remembered copy never decides what the current agreement would not."""

import re
from datetime import UTC, datetime, timedelta

from api import metrics
from api.services.alerts import rules as alert_rules
from api.services.tracking import agreement_memory
from tests.log_helpers import GLUCOSE, WALK, entry, local, plan, post
from tests.test_cgm_alerts import add_rule, send
from tests.test_console_session import SECURE, csrf_of, sign_in
from tests.test_foundation import assert_problem
from tests.test_nightscout_uploads import make_uploader


def agreements_url(p, suffix=""):
    return f"/api/v1/patients/{p.patient.pk}/agreements/{p.aid}{suffix}"


def commands_sent(command: str | None = None) -> float:
    samples = metrics.DB_COMMANDS.collect()[0].samples
    totals = [s for s in samples if s.name.endswith("_total")]
    return sum(s.value for s in totals if command in (None, s.labels["command"]))


def test_a_reading_costs_four_commands_once_its_agreement_is_remembered(client, factory, mongo):
    p = plan(factory, goals=[WALK, GLUCOSE])
    alert_rules.create_defaults(p.patient.pk, "t2-diabetes", now=datetime.now(UTC))
    assert post(client, p, entry(p, goal="g_glucose", value=120)).status_code == 201
    before = commands_sent()
    response = post(client, p, entry(p, goal="g_glucose", value=130))
    assert response.status_code == 201, response.get_json()
    # The summary (number, last log, agreement and sessions revisions), the insert, the day's
    # rollup, the commit: no revocation or agreement read, no rule read for a reading in range.
    assert commands_sent() - before == 4
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 2


def test_a_revoked_agreement_refuses_the_next_entry_at_once(client, factory, mongo):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    revoked = client.post(agreements_url(p, "/revoke"), headers=factory.headers(p.provider))
    assert revoked.status_code == 200, revoked.get_json()
    late = post(client, p, entry(p, at=datetime.now(UTC)))
    assert "occurred_at" in assert_problem(late, 422)["errors"]
    assert mongo.log_entries.count_documents({"patient": p.patient.pk}) == 1
    # What was logged while it was in force still counts and may still be added.
    earlier = post(client, p, entry(p, at=datetime.now(UTC) - timedelta(hours=2)))
    assert earlier.status_code == 201


def test_a_goal_added_by_a_revision_takes_entries_at_once(client, factory, mongo):
    p = plan(factory, goals=[WALK])
    assert post(client, p, entry(p)).status_code == 201
    shown = client.get(agreements_url(p), headers=p.headers)
    goals = shown.get_json()["goals"]
    revision = client.patch(
        agreements_url(p),
        json={"goals": [*goals, {k: v for k, v in GLUCOSE.items() if k != "id"}]},
        headers={**factory.headers(p.provider), "If-Match": shown.headers["ETag"]},
    )
    assert revision.status_code == 200, revision.get_json()
    added = revision.get_json()["revision"]["goals"][-1]["id"]
    # Before the patient accepts, the new goal is not in force.
    refused = post(client, p, entry(p, goal=added, value=120))
    assert "goal_id" in assert_problem(refused, 422)["errors"]
    accepted = client.post(agreements_url(p, "/accept"), headers=p.headers)
    assert accepted.status_code == 200, accepted.get_json()
    logged = post(client, p, entry(p, goal=added, value=120))
    assert logged.status_code == 201, logged.get_json()
    assert mongo.log_entries.count_documents({"patient": p.patient.pk, "goal_id": added}) == 1


def test_a_copy_is_forgotten_after_its_time(client, factory, mongo, monkeypatch):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    lookup = agreement_memory.AgreementLookup()
    assert lookup.get(p.patient.pk, p.aid) is not None and p.aid in lookup.recalled
    monkeypatch.setattr(agreement_memory, "KEEP_FOR_S", 0.0)
    fresh = agreement_memory.AgreementLookup()
    assert fresh.get(p.patient.pk, p.aid) is not None and p.aid not in fresh.recalled


def test_another_patients_agreement_is_never_recalled(client, factory, mongo):
    p = plan(factory)
    other = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    response = post(client, other, {**entry(other), "agreement_id": p.aid})
    assert "agreement_id" in assert_problem(response, 422)["errors"]
    assert mongo.log_entries.count_documents({"patient": other.patient.pk}) == 0


def test_revoking_in_the_console_goes_through_the_agreement_flow(client, factory, mongo):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    assert sign_in(client, p.provider).status_code == 303
    page = client.get(f"/console/patients/{p.patient.pk}/agreements/{p.aid}", base_url=SECURE)
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    revoked = client.post(
        f"/console/patients/{p.patient.pk}/agreements/{p.aid}/revoke",
        data={"csrf_token": csrf_of(page.text), "version": version},
        base_url=SECURE,
    )
    assert revoked.status_code == 303, revoked.text
    assert mongo.agreements.find_one({"_id": p.agreement.pk})["status"] == "revoked"
    assert mongo.adherence_summaries.find_one({"_id": p.patient.pk})["agreements_rev"] == 1
    late = post(client, p, entry(p, at=datetime.now(UTC)))
    assert "occurred_at" in assert_problem(late, 422)["errors"]


def test_a_reading_that_meets_a_day_moves_the_figures_that_show_it(client, factory, mongo):
    """The flip costs the `met` rewrite, the recomputed 7- and 30-day figures (the goals in
    force, the month's rollups, one write: the last-log fields come from the write's own
    summary), the panel rows' check and key, and the clinic's aggregates."""
    p = plan(factory, goals=[WALK, GLUCOSE])
    alert_rules.create_defaults(p.patient.pk, "t2-diabetes", now=datetime.now(UTC))
    costs = []
    for days_ago in (3, 2):
        at = datetime.now(UTC) - timedelta(days=days_ago)
        assert post(client, p, entry(p, value=20, at=at)).status_code == 201
        before = commands_sent()
        assert post(client, p, entry(p, value=15, at=at)).status_code == 201
        costs.append(commands_sent() - before)
    assert costs[1] == 4 + 7, costs  # the first also created the population's index
    summary = mongo.adherence_summaries.find_one({"_id": p.patient.pk})
    assert (summary["met_7d"], summary["met_30d"]) == (2, 2)


def test_a_back_filled_reading_older_than_an_open_alert_reads_no_rule(client, factory, mongo):
    p = plan(factory, goals=[GLUCOSE])
    alert_rules.create_defaults(p.patient.pk, "t2-diabetes", now=datetime.now(UTC))
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).date()
    # Yesterday's first reading settles the day, so the back-filled one flips nothing.
    first = entry(p, goal="g_glucose", value=110, at=local(yesterday, 9, 0, "UTC"))
    assert post(client, p, first).status_code == 201
    assert post(client, p, entry(p, goal="g_glucose", value=60, at=now)).status_code == 201
    assert mongo.alerts.count_documents({"patient": p.patient.pk, "active": True}) == 1
    before = commands_sent()
    old = entry(p, goal="g_glucose", value=120, at=local(yesterday, 10, 0, "UTC"))
    assert post(client, p, old).status_code == 201
    assert commands_sent() - before == 4
    assert mongo.alerts.count_documents({"patient": p.patient.pk, "active": True}) == 1
    # A newer reading in range is the latest: it closes the alert as before.
    newer = entry(p, goal="g_glucose", value=120, at=now + timedelta(seconds=1))
    assert post(client, p, newer).status_code == 201
    assert mongo.alerts.count_documents({"patient": p.patient.pk, "active": True}) == 0


def test_a_cgm_reading_no_rule_can_move_reads_no_rule(client, factory, mongo):
    patient = factory.patient(timezone="America/Denver")
    provider = factory.provider()
    factory.membership(patient, provider)
    uploader = make_uploader(client, factory.headers(patient))
    # A rule made after the uploader reaches the uploader's copy.
    add_rule(client, patient, factory.headers(provider))
    copy = mongo.glucose_uploaders.find_one({"patient": patient.pk})["alert_rules"]
    assert [(r["op"], r["value"]) for r in copy] == [("below", 54)]
    start = datetime.now(UTC) - timedelta(hours=1)
    send(client, uploader, start, [120])
    before = commands_sent("find")
    send(client, uploader, start + timedelta(minutes=5), [118])
    # The uploader (its key) and the hour's bucket: not the rules, not the recent readings.
    assert commands_sent("find") - before == 2
    # Readings that breach are judged as before: two low readings 15 minutes apart alarm.
    send(client, uploader, start + timedelta(minutes=10), [50, 50, 50, 50])
    assert mongo.alerts.count_documents({"patient": patient.pk, "active": True}) == 1
    opened = mongo.glucose_uploaders.find_one({"patient": patient.pk})["alert_rules"][0]
    assert opened["open_alert"] is not None
