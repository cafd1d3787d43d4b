"""Children's records (`POST /patients`) and who is a minor, on the patient's own calendar."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from api.models.user import User
from api.services.identity.minors import is_minor
from tests.test_foundation import assert_problem

API = "/api/v1"
AUCKLAND = "Pacific/Auckland"
# 11:00 UTC on 14 March is already 00:00 on 15 March in Auckland (NZDT, UTC+13).
BIRTHDAY_BEGUN_IN_AUCKLAND = datetime(2026, 3, 14, 11, 0, tzinfo=UTC)


def today_in(zone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February standing in for 29 February)."""
    if (day.month, day.day) == (2, 29):
        day -= timedelta(days=1)
    return day.replace(year=day.year - years)


def create_child(client, factory, provider, **body):
    body.setdefault("name", "Noah Child")
    body.setdefault("birth_date", str(years_before(today_in(AUCKLAND), 8)))
    body.setdefault("timezone", AUCKLAND)
    return client.post(f"{API}/patients", json=body, headers=factory.headers(provider))


class TestCreatingAChildsRecord:
    def test_a_provider_creates_a_record_on_their_own_panel(self, client, factory, mongo):
        provider = factory.provider(specialty="cardiology")
        response = create_child(client, factory, provider)
        assert response.status_code == 201
        body = response.get_json()
        assert body["name"] == "Noah Child"
        assert body["timezone"] == AUCKLAND
        assert body["minor"] is True
        assert body["has_login"] is False
        stored = mongo.users.find_one({"name": "Noah Child"})
        assert str(stored["_id"]) == body["id"]
        assert stored["role"] == "patient"
        assert "email" not in stored and "password_hash" not in stored
        assert stored["created_by"] == provider.pk
        membership = mongo.care_team_members.find_one({"patient": stored["_id"]})
        assert membership["provider"] == provider.pk
        assert (membership["status"], membership["role"]) == ("active", "primary")
        team = client.get(
            f"{API}/patients/{body['id']}/care-team", headers=factory.headers(provider)
        )
        assert team.status_code == 200

    def test_then_invites_a_parent_who_acts_for_the_child(self, client, factory):
        provider = factory.provider()
        child = create_child(client, factory, provider).get_json()
        code = client.post(
            f"{API}/patients/{child['id']}/caregivers",
            json={"relationship": "parent", "permissions": ["manage"]},
            headers=factory.headers(provider),
        )
        assert code.status_code == 201
        parent = factory.patient()
        joined = client.post(
            f"{API}/me/dependants",
            json={"code": code.get_json()["code"]},
            headers=factory.headers(parent),
        )
        assert joined.status_code == 201
        dependants = client.get(f"{API}/me/dependants", headers=factory.headers(parent))
        [entry] = dependants.get_json()
        assert entry["patient_id"] == child["id"]
        assert entry["minor"] is True
        assert entry["birth_date"] == child["birth_date"]
        assert entry["permissions"] == ["view", "log", "manage"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"birth_date": "not a date"}, "birth_date"),
            ({"birth_date": None}, "birth_date"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": None}, "timezone"),
            ({"name": ""}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"name": 7}, "name"),
            ({"email": "child@example.org"}, "email"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(self, client, factory, mongo, body, field):
        provider = factory.provider()
        before = mongo.users.count_documents({})
        problem = assert_problem(create_child(client, factory, provider, **body), 422)
        assert field in problem["errors"]
        assert mongo.users.count_documents({}) == before
        assert mongo.care_team_members.count_documents({}) == 0

    def test_missing_fields_are_named(self, client, factory):
        response = client.post(
            f"{API}/patients", json={}, headers=factory.headers(factory.provider())
        )
        assert set(assert_problem(response, 422)["errors"]) == {"name", "birth_date", "timezone"}

    def test_a_birth_date_tomorrow_in_the_childs_zone_is_refused(self, client, factory, mongo):
        provider = factory.provider()
        tomorrow = today_in(AUCKLAND) + timedelta(days=1)
        response = create_child(client, factory, provider, birth_date=str(tomorrow))
        assert "birth_date" in assert_problem(response, 422)["errors"]
        born_today = create_child(client, factory, provider, birth_date=str(today_in(AUCKLAND)))
        assert born_today.status_code == 201
        assert mongo.users.count_documents({"role": "patient"}) == 1

    def test_a_birth_date_130_years_ago_is_refused(self, client, factory, mongo):
        provider = factory.provider()
        today = today_in(AUCKLAND)
        too_old = create_child(client, factory, provider, birth_date=str(years_before(today, 130)))
        assert "birth_date" in assert_problem(too_old, 422)["errors"]
        oldest = years_before(today, 130) + timedelta(days=1)
        assert create_child(client, factory, provider, birth_date=str(oldest)).status_code == 201
        assert mongo.users.count_documents({"role": "patient"}) == 1

    def test_only_providers_create_records(self, client, factory, mongo):
        patient = factory.patient()
        response = create_child(client, factory, patient)
        assert_problem(response, 403)
        assert_problem(client.post(f"{API}/patients", json={}), 401)
        assert mongo.users.count_documents({}) == 1


class TestWhoIsAMinor:
    def patient(self, birth_date, zone):
        return SimpleNamespace(birth_date=birth_date, timezone=zone)

    def test_the_16th_birthday_counts_from_midnight_in_the_patients_zone(self):
        born = date(2010, 3, 15)
        now = BIRTHDAY_BEGUN_IN_AUCKLAND
        assert is_minor(self.patient(born, AUCKLAND), now, 16) is False
        assert is_minor(self.patient(born, "UTC"), now, 16) is True
        a_minute_earlier = now - timedelta(minutes=1)
        assert is_minor(self.patient(born, AUCKLAND), a_minute_earlier, 16) is True

    def test_minor_age_comes_from_configuration(self):
        born = date(2010, 3, 15)
        assert is_minor(self.patient(born, AUCKLAND), BIRTHDAY_BEGUN_IN_AUCKLAND, 18) is True

    def test_no_birth_date_is_not_a_minor(self):
        assert is_minor(self.patient(None, AUCKLAND), BIRTHDAY_BEGUN_IN_AUCKLAND, 16) is False


class TestProvidersAddCaregiversOnlyForMinors:
    def child(self, factory, provider, zone):
        child = factory.patient(timezone=zone, birth_date=date(2010, 3, 15))
        factory.membership(child, provider)
        return child

    def grant(self, client, factory, provider, child):
        return client.post(
            f"{API}/patients/{child.pk}/caregivers",
            json={"relationship": "guardian", "permissions": ["log"]},
            headers=factory.headers(provider),
        )

    def test_on_the_16th_birthday_in_auckland_while_utc_is_the_day_before(
        self, client, factory, mongo, monkeypatch
    ):
        monkeypatch.setattr("api.resources.caregivers.utcnow", lambda: BIRTHDAY_BEGUN_IN_AUCKLAND)
        provider = factory.provider()
        sixteen_in_auckland = self.child(factory, provider, AUCKLAND)
        still_fifteen_in_utc = self.child(factory, provider, "UTC")
        refused = self.grant(client, factory, provider, sixteen_in_auckland)
        assert "minor" in assert_problem(refused, 403)["detail"]
        assert mongo.caregiver_grants.count_documents({}) == 0
        allowed = self.grant(client, factory, provider, still_fifteen_in_utc)
        assert allowed.status_code == 201
        stored = mongo.caregiver_grants.find_one()
        assert stored["patient"] == still_fifteen_in_utc.pk
        assert stored["created_by"] == provider.pk

    def test_a_provider_ends_a_minors_grant_but_not_an_adults(self, client, factory, mongo):
        provider = factory.provider()
        child = create_child(client, factory, provider).get_json()
        adult = factory.patient(birth_date=date(1980, 1, 1))
        factory.membership(adult, provider)
        parent = factory.patient()
        child_grant = factory.grant(User.objects.get(pk=child["id"]), parent)
        adult_grant = factory.grant(adult, parent)
        headers = factory.headers(provider)
        refused = client.delete(
            f"{API}/patients/{adult.pk}/caregivers/{adult_grant.pk}", headers=headers
        )
        assert_problem(refused, 403)
        ended = client.delete(
            f"{API}/patients/{child['id']}/caregivers/{child_grant.pk}", headers=headers
        )
        assert ended.status_code == 204
        statuses = {g["_id"]: g["status"] for g in mongo.caregiver_grants.find()}
        assert statuses == {child_grant.pk: "ended", adult_grant.pk: "active"}
        adults_code = client.post(
            f"{API}/patients/{adult.pk}/caregivers",
            json={"relationship": "spouse", "permissions": ["view"]},
            headers=headers,
        )
        assert_problem(adults_code, 403)
