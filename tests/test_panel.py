"""The provider panel through HTTP: only the caller's active patients, flags, sorting,
pagination over many patients, check-ups and unread messages on each entry."""

import json
import uuid
from datetime import timedelta

import pytest

from api.clock import utcnow
from api.errors import PROBLEM_JSON
from api.models.agreement import Checkup
from api.services.care import care_team
from api.services.clinic import panel
from api.services.flows import memberships
from api.services.tracking import summary as patient_summary

PANEL = "/api/v1/panel"


def join(patient, provider, role="primary"):
    code = care_team.create_invitation(provider.pk, role=role, valid_days=7, now=utcnow())
    return memberships.join_with_code(patient, code["code"], now=utcnow())


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()


def set_summary(patient, **fields):
    """Figures in the summary's shape as the adherence code writes them, then the refresh the
    adherence listeners trigger."""
    flags = fields.pop("flags", {})
    update = {**fields, **{f"flags.{name}": on for name, on in flags.items()}}
    patient_summary.summaries().update_one({"_id": patient.pk}, {"$set": update}, upsert=True)
    panel.sync_patient(patient.pk)


def get_panel(client, headers, query=""):
    response = client.get(f"{PANEL}{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json(), json.loads(response.headers["X-Pagination"])


@pytest.fixture
def many(factory):
    """A provider with 60 patients with varied adherence (ties included, some without a
    figure) and last logs; another provider shares a few of them."""
    provider = factory.provider(name="Dr Ada Moss")
    colleague = factory.provider()
    now = utcnow()
    patients = []
    for i in range(60):
        patient = factory.patient(name=f"Patient {i:02d}", timezone="UTC")
        join(patient, provider)
        if i % 10 == 0:
            join(patient, colleague, role="specialist")
        percent = None if i % 15 == 14 else float((i * 7) % 40 * 2.5)
        set_summary(
            patient,
            adherence_7d=percent,
            adherence_30d=None if percent is None else 100.0 - percent,
            last_logged_at=None if i % 20 == 19 else now - timedelta(days=i % 12),
            tz="UTC",
            flags={
                "low_adherence": percent is not None and percent < 50,
                "no_recent_logs": i % 12 > 3,
            },
        )
        patients.append((patient, percent))
    return provider, colleague, patients


def all_pages(client, headers, query, page_size=25):
    entries, page = [], 1
    while True:
        body, meta = get_panel(client, headers, f"{query}&page={page}&page_size={page_size}")
        entries += body
        if page >= meta.get("total_pages", 1):
            return entries, meta
        page += 1


class TestSortingAndPages:
    def test_sorted_by_seven_day_adherence_in_pages(self, client, factory, many):
        provider, _, patients = many
        headers = factory.headers(provider)
        entries, meta = all_pages(client, headers, "?sort=adherence_7d&order=asc")
        assert meta["total"] == 60
        ids = [e["patient"]["id"] for e in entries]
        assert len(ids) == len(set(ids)) == 60
        assert set(ids) == {str(p.pk) for p, _ in patients}
        figures = [e["adherence_7d"] for e in entries]
        known = [f for f in figures if f is not None]
        assert known == sorted(known)
        assert figures[len(known) :] == [None] * (60 - len(known))  # no figure: last

        descending, _ = all_pages(client, headers, "?sort=adherence_7d&order=desc")
        figures = [e["adherence_7d"] for e in descending if e["adherence_7d"] is not None]
        assert figures == sorted(figures, reverse=True)

    def test_sorted_by_thirty_day_adherence_and_by_last_log(self, client, factory, many):
        provider, _, _ = many
        headers = factory.headers(provider)
        entries, _ = all_pages(client, headers, "?sort=adherence_30d&order=desc", 40)
        figures = [e["adherence_30d"] for e in entries if e["adherence_30d"] is not None]
        assert figures == sorted(figures, reverse=True)
        entries, _ = all_pages(client, headers, "?sort=last_log&order=asc", 40)
        logged = [e["last_logged_at"] for e in entries]
        never = logged.count(None)
        assert never == 3 and logged[:never] == [None] * never  # never logged: first
        days = [at[:10] for at in logged[never:]]
        assert days == sorted(days)

    def test_a_page_holds_what_the_header_says(self, client, factory, many):
        provider, _, _ = many
        body, meta = get_panel(client, factory.headers(provider), "?page=3&page_size=25")
        assert len(body) == 10
        assert (meta["total"], meta["total_pages"], meta["page"]) == (60, 3, 3)
        body, meta = get_panel(client, factory.headers(provider), "?page=4&page_size=25")
        assert body == []


class TestFlags:
    def test_filter_by_flag(self, client, factory, many):
        provider, _, patients = many
        headers = factory.headers(provider)
        expected = {str(p.pk) for p, percent in patients if percent is not None and percent < 50}
        entries, meta = all_pages(client, headers, "?flag=low_adherence", 20)
        assert meta["total"] == len(expected)
        assert {e["patient"]["id"] for e in entries} == expected
        assert all("low_adherence" in e["flags"] for e in entries)

    def test_a_flag_cleared_leaves_the_filtered_view(self, client, factory, many):
        provider, _, patients = many
        patient = next(p for p, percent in patients if percent == 0.0)
        set_summary(patient, adherence_7d=80.0, flags={"low_adherence": False})
        entries, _ = all_pages(client, factory.headers(provider), "?flag=low_adherence", 50)
        assert str(patient.pk) not in {e["patient"]["id"] for e in entries}
        entries, _ = all_pages(client, factory.headers(provider), "?sort=adherence_7d", 50)
        moved = next(e for e in entries if e["patient"]["id"] == str(patient.pk))
        assert (moved["adherence_7d"], moved["flags"]) == (80.0, [])


class TestWhoIsOnThePanel:
    def test_only_the_callers_active_patients(self, client, factory, many, mongo):
        _provider, colleague, patients = many
        body, meta = get_panel(client, factory.headers(colleague), "?page_size=100")
        assert meta["total"] == 6
        assert {e["patient"]["id"] for e in body} == {
            str(p.pk) for i, (p, _) in enumerate(patients) if i % 10 == 0
        }
        # Ending a membership takes the patient off that provider's panel at once.
        member = mongo.care_team_members.find_one(
            {"patient": patients[0][0].pk, "provider": colleague.pk}
        )
        response = client.delete(
            f"/api/v1/patients/me/care-team/{member['_id']}",
            headers=factory.headers(patients[0][0]),
        )
        assert response.status_code == 204
        body, meta = get_panel(client, factory.headers(colleague), "?page_size=100")
        assert meta["total"] == 5
        assert str(patients[0][0].pk) not in {e["patient"]["id"] for e in body}

    def test_a_strangers_panel_is_empty(self, client, factory, many):
        stranger = factory.provider()
        body, meta = get_panel(client, factory.headers(stranger))
        assert body == [] and meta["total"] == 0

    def test_pending_referrals_are_not_on_the_panel_until_approved(self, client, factory, mongo):
        patient, primary, cardio = factory.patient(), factory.provider(), factory.provider()
        join(patient, primary)
        member = care_team.refer(
            patient.pk,
            referred_by=primary.pk,
            provider_id=str(cardio.pk),
            role="specialist",
            reason="Palpitations",
            now=utcnow(),
        )
        body, _ = get_panel(client, factory.headers(cardio))
        assert body == []
        response = client.post(
            f"/api/v1/patients/me/care-team/{member.pk}/approve",
            headers=factory.headers(patient),
        )
        assert response.status_code == 200
        body, _ = get_panel(client, factory.headers(cardio))
        assert [e["patient"]["id"] for e in body] == [str(patient.pk)]

    def test_patients_cannot_have_a_panel(self, client, factory):
        assert_problem(client.get(PANEL, headers=factory.headers(factory.patient())), 403)
        assert_problem(client.get(PANEL), 401)


class TestEntries:
    def test_an_entry_from_real_logs_checkups_and_messages(self, client, factory, mongo):
        patient = factory.patient(name="Pat Jones", timezone="Europe/Paris")
        provider = factory.provider()
        join(patient, provider)
        today = utcnow().date()
        checkups = [
            Checkup(id="c_a1c", name="HbA1c", code="4548-4", interval="P3M"),
            Checkup(id="c_eye", name="Eye exam", interval="P1Y"),
        ]
        agreement = factory.agreement(
            patient, provider, checkups=checkups, start_on=today - timedelta(days=100)
        )
        headers = factory.headers(patient)
        goal = agreement.content.goals[0]
        response = client.post(
            "/api/v1/patients/me/logs",
            json={
                "id": str(uuid.uuid4()),
                "agreement_id": str(agreement.pk),
                "goal_id": goal.id,
                "occurred_at": utcnow().isoformat(),
                "value": 45,
            },
            headers=headers,
        )
        assert response.status_code == 201
        client.post("/api/v1/patients/me/messages", json={"body": "Hello"}, headers=headers)
        client.post(
            "/api/v1/patients/me/checkups/c_eye/completions",
            json={"done_on": (today - timedelta(days=2)).isoformat()},
            headers=headers,
        )
        [entry], _ = get_panel(client, factory.headers(provider))
        assert entry["patient"] == {"id": str(patient.pk), "name": "Pat Jones"}
        assert entry["last_logged_at"] is not None
        assert entry["unread_messages"] == 1
        assert [c["name"] for c in entry["overdue_checkups"]] == ["HbA1c"]
        assert entry["next_checkup"]["name"] == "Eye exam"
        assert entry["next_checkup_due_on"] == entry["next_checkup"]["due_on"]
        assert "overdue_checkup" in entry["flags"]
        body, _ = get_panel(client, factory.headers(provider), "?flag=overdue_checkup")
        assert len(body) == 1
        # Reading the thread clears the count on the panel.
        client.get(f"/api/v1/patients/{patient.pk}/messages", headers=factory.headers(provider))
        [entry], _ = get_panel(client, factory.headers(provider))
        assert entry["unread_messages"] == 0


class TestBadQueries:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?sort=name", "sort"),
            ("?order=up", "order"),
            ("?flag=sad", "flag"),
            ("?page_size=1000", "page_size"),
            ("?page=0", "page"),
        ],
    )
    def test_bad_query_strings_are_422(self, client, factory, query, field):
        problem = assert_problem(
            client.get(f"{PANEL}{query}", headers=factory.headers(factory.provider())), 422
        )
        assert field in problem["errors"]


class TestUpkeepOnTheLoggingPath:
    def test_an_entry_that_leaves_the_keys_alone_touches_no_rows_and_a_new_day_moves_them(
        self, client, factory, mongo
    ):
        patient = factory.patient(timezone="UTC")
        provider = factory.provider()
        join(patient, provider)
        agreement = factory.agreement(patient, provider)
        goal = agreement.content.goals[0]
        headers = factory.headers(patient)

        def log(at):
            body = {
                "id": str(uuid.uuid4()),
                "agreement_id": str(agreement.pk),
                "goal_id": goal.id,
                "occurred_at": at.isoformat(),
                "value": 1,
            }
            response = client.post("/api/v1/patients/me/logs", json=body, headers=headers)
            assert response.status_code == 201, response.get_json()

        def last_log_key():
            return mongo.panel_rows.find_one({"patient": patient.pk, "view": "all"})["last_log"]

        yesterday = utcnow() - timedelta(days=1)
        log(yesterday)
        built = last_log_key()
        assert yesterday.date().isoformat() in built
        summary = mongo.adherence_summaries.find_one({"_id": patient.pk})
        assert summary["panel_key"] == panel.panel_key(summary, patient.pk)

        # The same local day again: nothing on the panel moves, so its rows are left alone.
        mongo.panel_rows.update_one({"_id": f"{provider.pk}:all:{patient.pk}"}, {"$set": {"x": 1}})
        log(yesterday + timedelta(minutes=1))
        assert mongo.panel_rows.find_one({"_id": f"{provider.pk}:all:{patient.pk}"})["x"] == 1

        # Today: the last-log key moves, and the row is rebuilt from the summary.
        log(utcnow())
        assert utcnow().date().isoformat() in last_log_key()
        assert "x" not in mongo.panel_rows.find_one({"_id": f"{provider.pk}:all:{patient.pk}"})
        [entry], _ = get_panel(client, factory.headers(provider), "?sort=last_log")
        assert entry["last_logged_at"].startswith(utcnow().date().isoformat())
