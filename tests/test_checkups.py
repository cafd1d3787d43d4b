"""Check-ups and tests through HTTP: due dates and statuses in the patient's zone,
completions moving the due date, the duplicate-test guard across providers, self-reports,
the tests list, bad input and who may do what."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId

from api.clock import utcnow
from api.errors import PROBLEM_JSON
from api.models.agreement import Checkup
from api.services.care import care_team
from api.services.common.intervals import add_interval, parse_interval
from api.services.flows import memberships
from api.services.reminders import planning as reminders


def join(patient, provider, role="primary"):
    """Join through the care-team service, as a redeemed invitation does."""
    code = care_team.create_invitation(provider.pk, role=role, valid_days=7, now=utcnow())
    return memberships.join_with_code(patient, code["code"], now=utcnow())


def local_today(tz: str):
    return utcnow().astimezone(ZoneInfo(tz)).date()


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()


def hba1c(**fields):
    spec = {"id": "c_a1c", "name": "HbA1c", "code": "4548-4", "interval": "P3M"}
    spec["remind_days_before"] = [7]
    return Checkup(**{**spec, **fields})


@pytest.fixture
def team(factory):
    """A patient with a primary care provider and an endocrinologist, and an agreement
    (the primary's) with an HbA1c check-up every three months."""
    patient = factory.patient(name="Pat Jones", timezone="Europe/Paris")
    primary = factory.provider(name="Dr Ada Moss")
    endo = factory.provider(name="Dr Ben Kurt", specialty="endocrinology")
    join(patient, primary)
    join(patient, endo, role="specialist")
    start = local_today("Europe/Paris") - timedelta(days=30)
    agreement = factory.agreement(patient, primary, goals=[], checkups=[hba1c()], start_on=start)
    return patient, primary, endo, agreement


def complete(client, factory, user, patient, body, cid="c_a1c"):
    return client.post(
        f"/api/v1/patients/{patient.pk}/checkups/{cid}/completions",
        json=body,
        headers=factory.headers(user),
    )


class TestSchedule:
    def test_lists_every_checkup_of_the_active_agreements_with_its_due_date(
        self, client, factory, team
    ):
        patient, primary, _, agreement = team
        factory.agreement(
            patient,
            primary,
            status="completed",
            goals=[],
            checkups=[hba1c(id="c_old", name="Old plan test", code=None)],
        )
        response = client.get(
            f"/api/v1/patients/{patient.pk}/checkups", headers=factory.headers(primary)
        )
        assert response.status_code == 200
        [item] = response.get_json()
        start = agreement.content.start_on
        expected = add_interval(start, parse_interval("P3M"))
        assert item["id"] == "c_a1c"
        assert item["agreement_id"] == str(agreement.pk)
        assert item["next_due_on"] == expected.isoformat()
        assert item["status"] == "upcoming"
        assert item["last_done_on"] is None
        assert '"total": 1' in response.headers["X-Pagination"]

    def test_due_and_overdue_are_judged_in_the_patients_local_date(self, client, factory):
        # UTC+14 and UTC-11 are always at least one calendar day apart.
        east = factory.patient(timezone="Pacific/Kiritimati")
        west = factory.patient(timezone="Pacific/Pago_Pago")
        provider = factory.provider()
        due = local_today("Pacific/Pago_Pago")
        for patient in (east, west):
            join(patient, provider)
            checkup = Checkup(id="c_eye", name="Eye exam", interval="P10D", remind_days_before=[3])
            factory.agreement(
                patient, provider, goals=[], checkups=[checkup], start_on=due - timedelta(days=10)
            )
        statuses = {}
        for patient in (east, west):
            response = client.get(
                f"/api/v1/patients/{patient.pk}/checkups", headers=factory.headers(provider)
            )
            [item] = response.get_json()
            assert item["next_due_on"] == due.isoformat()
            statuses[patient.timezone] = item["status"]
        assert statuses == {"Pacific/Kiritimati": "overdue", "Pacific/Pago_Pago": "due"}

    def test_a_check_up_far_ahead_is_upcoming_and_one_within_the_lead_is_due(self, client, factory):
        patient = factory.patient(timezone="UTC")
        provider = factory.provider()
        join(patient, provider)
        today = local_today("UTC")
        soon = Checkup(id="c_soon", name="Foot exam", interval="P1Y", remind_days_before=[7, 1])
        later = Checkup(id="c_later", name="Lipids", interval="P1Y", remind_days_before=[7])
        factory.agreement(
            patient, provider, goals=[], checkups=[soon], start_on=today - timedelta(days=360)
        )
        factory.agreement(
            patient, provider, goals=[], checkups=[later], start_on=today - timedelta(days=300)
        )
        response = client.get("/api/v1/patients/me/checkups", headers=factory.headers(patient))
        assert [(i["id"], i["status"]) for i in response.get_json()] == [
            ("c_soon", "due"),
            ("c_later", "upcoming"),
        ]


class TestCompletions:
    def test_a_completion_moves_the_due_date_and_reaches_the_summary(
        self, client, factory, team, mongo
    ):
        patient, primary, _, _ = team
        long_ago = local_today("Europe/Paris") - timedelta(days=200)
        response = complete(client, factory, primary, patient, {"done_on": long_ago.isoformat()})
        assert response.status_code == 201, response.get_json()
        summary = mongo.adherence_summaries.find_one({"_id": patient.pk})
        assert summary["flags"]["overdue_checkup"] is True
        moved = add_interval(long_ago, parse_interval("P3M"))
        assert summary["next_checkup_due_on"] == moved.isoformat()

        today = local_today("Europe/Paris")
        body = {"done_on": today.isoformat(), "result": "6.8 %", "note": "fasting"}
        response = complete(client, factory, primary, patient, body)
        assert response.status_code == 201
        stored = response.get_json()
        assert stored["result"] == "6.8 %"
        assert stored["self_reported"] is False
        assert stored["recorded_by"]["name"] == "Dr Ada Moss"
        next_due = add_interval(today, parse_interval("P3M"))
        listed = client.get(
            f"/api/v1/patients/{patient.pk}/checkups", headers=factory.headers(primary)
        ).get_json()
        assert listed[0]["next_due_on"] == next_due.isoformat()
        assert listed[0]["last_done_on"] == today.isoformat()
        assert listed[0]["last_completion_id"] == stored["id"]
        summary = mongo.adherence_summaries.find_one({"_id": patient.pk})
        assert summary["flags"]["overdue_checkup"] is False
        assert summary["next_checkup_due_on"] == next_due.isoformat()
        doc = mongo.checkup_completions.find_one({"_id": ObjectId(stored["id"])})
        assert (doc["match_key"], doc["recorded_by"], doc["note"]) == (
            "4548-4",
            primary.pk,
            "fasting",
        )

    def test_reminders_follow_the_completion(self, client, factory, team):
        patient, primary, _, agreement = team
        today = local_today("Europe/Paris")
        complete(client, factory, primary, patient, {"done_on": today.isoformat()})
        next_due = add_interval(today, parse_interval("P3M"))
        # Plan the day the "7 days before" reminder of the new due date falls in.
        notice_day = next_due - timedelta(days=7)
        now = datetime(notice_day.year, notice_day.month, notice_day.day, tzinfo=UTC)
        planned = reminders.plan(agreement, patient, now - timedelta(hours=12))
        keys = {o.key for o in planned if o.kind.startswith("checkup")}
        assert f"checkup:c_a1c:{next_due.isoformat()}:before:7" in keys

    def test_the_same_test_by_another_provider_within_half_its_interval_is_refused(
        self, client, factory, team, mongo
    ):
        patient, primary, endo, _ = team
        # The endocrinologist's own plan has the same test under another name, same code.
        factory.agreement(
            patient,
            endo,
            goals=[],
            checkups=[hba1c(id="c_glyc", name="Glycated haemoglobin")],
        )
        done = local_today("Europe/Paris") - timedelta(days=20)
        first = complete(
            client, factory, primary, patient, {"done_on": done.isoformat(), "result": "7.1 %"}
        )
        assert first.status_code == 201
        today = local_today("Europe/Paris").isoformat()
        refused = complete(client, factory, endo, patient, {"done_on": today}, cid="c_glyc")
        body = assert_problem(refused, 409)
        earlier = body["earlier"]
        assert earlier["id"] == first.get_json()["id"]
        assert (earlier["done_on"], earlier["result"]) == (done.isoformat(), "7.1 %")
        assert earlier["recorded_by"] == {
            "id": str(primary.pk),
            "name": "Dr Ada Moss",
            "role": "provider",
            "specialty": "primary care",
        }
        assert "confirm_duplicate" in body["detail"]
        assert mongo.checkup_completions.count_documents({}) == 1

        confirmed = complete(
            client,
            factory,
            endo,
            patient,
            {"done_on": today, "confirm_duplicate": True, "reason": "Lab sample was lost"},
            cid="c_glyc",
        )
        assert confirmed.status_code == 201
        stored = confirmed.get_json()
        assert stored["confirmed_duplicate"] is True
        assert stored["duplicate_of"] == earlier["id"]
        assert stored["duplicate_reason"] == "Lab sample was lost"
        assert mongo.checkup_completions.count_documents({}) == 2

    def test_the_same_name_without_a_code_counts_and_past_half_the_interval_does_not(
        self, client, factory, team
    ):
        patient, primary, endo, _ = team
        eye = Checkup(id="c_eye", name="Eye exam", interval="P1Y")
        factory.agreement(patient, primary, goals=[], checkups=[eye])
        other = Checkup(id="c_eye2", name="eye exam ", interval="P1Y")
        factory.agreement(patient, endo, goals=[], checkups=[other])
        today = local_today("Europe/Paris")
        old = today - timedelta(days=200)  # more than half a year ago
        first = complete(client, factory, primary, patient, {"done_on": old.isoformat()}, "c_eye")
        assert first.status_code == 201
        again = complete(
            client, factory, endo, patient, {"done_on": today.isoformat()}, cid="c_eye2"
        )
        assert again.status_code == 201
        recent = complete(
            client,
            factory,
            primary,
            patient,
            {"done_on": (today - timedelta(days=1)).isoformat()},
            cid="c_eye",
        )
        assert assert_problem(recent, 409)["earlier"]["id"] == again.get_json()["id"]

    def test_a_patient_may_self_report_and_it_is_marked(self, client, factory, team, mongo):
        patient, _primary, _, _ = team
        today = local_today("Europe/Paris").isoformat()
        response = complete(client, factory, patient, patient, {"done_on": today})
        assert response.status_code == 201
        body = response.get_json()
        assert body["self_reported"] is True
        assert body["recorded_by"]["role"] == "patient"
        assert mongo.checkup_completions.find_one()["self_reported"] is True

    def test_a_caregiver_needs_log_to_self_report(self, client, factory, team):
        patient, _, _, _ = team
        viewer, logger = factory.patient(), factory.patient()
        factory.grant(patient, viewer, permissions=("view",))
        factory.grant(patient, logger, permissions=("view", "log"))
        today = local_today("Europe/Paris").isoformat()
        assert_problem(complete(client, factory, viewer, patient, {"done_on": today}), 403)
        response = complete(client, factory, logger, patient, {"done_on": today})
        assert response.status_code == 201
        assert response.get_json()["self_reported"] is True


class TestTests:
    def test_every_completion_across_the_team_newest_first_paginated(self, client, factory, team):
        patient, primary, endo, _ = team
        today = local_today("Europe/Paris")
        days = [today - timedelta(days=200), today - timedelta(days=60), today]
        complete(client, factory, primary, patient, {"done_on": days[0].isoformat()})
        complete(client, factory, endo, patient, {"done_on": days[1].isoformat()})
        complete(client, factory, patient, patient, {"done_on": days[2].isoformat()})
        response = client.get(
            f"/api/v1/patients/{patient.pk}/tests?page_size=2", headers=factory.headers(endo)
        )
        assert response.status_code == 200
        assert json.loads(response.headers["X-Pagination"])["total"] == 3
        first_page = response.get_json()
        assert [t["done_on"] for t in first_page] == [days[2].isoformat(), days[1].isoformat()]
        assert [t["recorded_by"]["name"] for t in first_page] == ["Pat Jones", "Dr Ben Kurt"]
        second = client.get(
            "/api/v1/patients/me/tests?page_size=2&page=2", headers=factory.headers(patient)
        ).get_json()
        assert [(t["done_on"], t["name"]) for t in second] == [(days[0].isoformat(), "HbA1c")]


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "done_on"),
            ({"done_on": 20250101}, "done_on"),
            ({"done_on": "yesterday"}, "done_on"),
            ({"done_on": "2024-01-01", "result": "x" * 501}, "result"),
            ({"done_on": "2024-01-01", "note": "x" * 2001}, "note"),
            ({"done_on": "2024-01-01", "confirm_duplicate": "maybe"}, "confirm_duplicate"),
            ({"done_on": "2024-01-01", "by": "someone"}, "by"),
        ],
    )
    def test_invalid_bodies_are_422_naming_the_field(
        self, client, factory, team, mongo, body, field
    ):
        patient, primary, _, _ = team
        problem = assert_problem(complete(client, factory, primary, patient, body), 422)
        assert field in problem["errors"]
        assert mongo.checkup_completions.count_documents({}) == 0

    def test_a_date_in_the_future_of_the_patients_zone_is_422(self, client, factory, team, mongo):
        patient, primary, _, _ = team
        tomorrow = local_today("Europe/Paris") + timedelta(days=1)
        response = complete(client, factory, primary, patient, {"done_on": tomorrow.isoformat()})
        assert "done_on" in assert_problem(response, 422)["errors"]
        assert mongo.checkup_completions.count_documents({}) == 0

    def test_an_unknown_check_up_is_404(self, client, factory, team, mongo):
        patient, primary, _, _ = team
        response = complete(
            client, factory, primary, patient, {"done_on": "2024-01-01"}, cid="c_nope"
        )
        assert_problem(response, 404)
        assert mongo.checkup_completions.count_documents({}) == 0

    def test_a_check_up_of_an_agreement_no_longer_active_is_404(self, client, factory, team):
        patient, primary, _, _ = team
        old = hba1c(id="c_old")
        factory.agreement(patient, primary, status="revoked", goals=[], checkups=[old])
        response = complete(
            client, factory, primary, patient, {"done_on": "2024-01-01"}, cid="c_old"
        )
        assert_problem(response, 404)


class TestAccess:
    def test_other_patients_are_404_for_a_stranger_and_an_ended_member(
        self, client, factory, team, mongo
    ):
        patient, _primary, _, _ = team
        stranger = factory.provider()
        other_patient = factory.patient()
        ended = factory.provider()
        factory.membership(patient, ended, status="ended")
        for user in (stranger, ended, other_patient):
            headers = factory.headers(user)
            base = f"/api/v1/patients/{patient.pk}"
            assert_problem(client.get(f"{base}/checkups", headers=headers), 404)
            assert_problem(client.get(f"{base}/tests", headers=headers), 404)
            response = client.post(
                f"{base}/checkups/c_a1c/completions",
                json={"done_on": "2024-01-01"},
                headers=headers,
            )
            assert_problem(response, 404)
        assert mongo.checkup_completions.count_documents({}) == 0
