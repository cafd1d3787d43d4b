"""The signed-in user's profile: GET/PATCH /me."""

import pytest

from tests.test_foundation import assert_problem

ME = "/api/v1/me"


def stored(mongo, user) -> dict:
    document = mongo.users.find_one({"_id": user.pk})
    document.pop("updated_at")
    return document


class TestReadProfile:
    def test_a_patient_reads_their_profile(self, client, factory):
        patient = factory.patient(timezone="America/Chicago", name="Pat Jensen")
        response = client.get(ME, headers=factory.headers(patient))
        assert response.status_code == 200
        body = response.get_json()
        assert body["id"] == str(patient.pk) and body["email"] == patient.email
        assert body["role"] == "patient" and body["name"] == "Pat Jensen"
        assert body["timezone"] == "America/Chicago" and body["reminder_time"] == "08:00"
        assert body["quiet_hours"] is None and body["glucose_unit"] is None
        assert body["created_at"].endswith("Z")
        assert not {"password", "password_hash"} & set(body)

    def test_a_provider_sees_their_specialty(self, client, factory):
        provider = factory.provider(specialty="Endocrinology")
        body = client.get(ME, headers=factory.headers(provider)).get_json()
        assert body["role"] == "provider" and body["specialty"] == "endocrinology"

    def test_a_deleted_account_is_404(self, client, mongo, factory):
        patient = factory.patient()
        headers = factory.headers(patient)
        mongo.users.delete_one({"_id": patient.pk})
        assert_problem(client.get(ME, headers=headers), 404)


class TestChangeProfile:
    def test_every_setting_can_be_changed_and_is_stored(self, client, mongo, factory):
        patient = factory.patient()
        changes = {
            "name": "  New Name ",
            "timezone": "Asia/Kolkata",
            "reminder_time": "07:30",
            "quiet_hours": {"start": "22:00", "end": "06:45"},
            "glucose_unit": "mmol/L",
            "outreach_opt_out": True,
        }
        response = client.patch(ME, json=changes, headers=factory.headers(patient))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["name"] == "New Name" and body["timezone"] == "Asia/Kolkata"
        assert body["quiet_hours"] == {"start": "22:00", "end": "06:45"}
        document = stored(mongo, patient)
        assert document["name"] == "New Name"
        assert document["timezone"] == "Asia/Kolkata"
        assert document["reminder_time"] == "07:30"
        assert document["quiet_hours"] == {"start": "22:00", "end": "06:45"}
        assert document["glucose_unit"] == "mmol/L"
        assert document["outreach_opt_out"] is True
        assert client.get(ME, headers=factory.headers(patient)).get_json() == body

    def test_a_partial_change_keeps_the_rest(self, client, mongo, factory):
        patient = factory.patient(timezone="Europe/Oslo", glucose_unit="mg/dL")
        response = client.patch(
            ME, json={"reminder_time": "21:15"}, headers=factory.headers(patient)
        )
        assert response.status_code == 200
        document = stored(mongo, patient)
        assert document["timezone"] == "Europe/Oslo" and document["glucose_unit"] == "mg/dL"
        assert document["reminder_time"] == "21:15"

    def test_quiet_hours_and_glucose_unit_can_be_cleared(self, client, mongo, factory):
        patient = factory.patient(glucose_unit="mg/dL")
        headers = factory.headers(patient)
        client.patch(ME, json={"quiet_hours": {"start": "23:00", "end": "07:00"}}, headers=headers)
        response = client.patch(
            ME, json={"quiet_hours": None, "glucose_unit": None}, headers=headers
        )
        assert response.status_code == 200
        assert response.get_json()["quiet_hours"] is None
        document = stored(mongo, patient)
        assert "quiet_hours" not in document and "glucose_unit" not in document

    def test_an_empty_patch_changes_nothing(self, client, mongo, factory):
        patient = factory.patient()
        before = stored(mongo, patient)
        assert client.patch(ME, json={}, headers=factory.headers(patient)).status_code == 200
        assert stored(mongo, patient) == before

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
            ({"timezone": "utc+2"}, "timezone"),
            ({"timezone": ""}, "timezone"),
            ({"timezone": None}, "timezone"),
            ({"timezone": "Europe/" + "x" * 300}, "timezone"),
            ({"timezone": 5}, "timezone"),
            ({"reminder_time": "8:00"}, "reminder_time"),
            ({"reminder_time": "24:00"}, "reminder_time"),
            ({"reminder_time": "07:60"}, "reminder_time"),
            ({"reminder_time": "07:00:00"}, "reminder_time"),
            ({"reminder_time": "ab:cd"}, "reminder_time"),
            ({"reminder_time": 700}, "reminder_time"),
            ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end"),
            ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
            ({"quiet_hours": {"start": "22:00", "end": "07:00", "x": 1}}, "quiet_hours.x"),
            ({"quiet_hours": "22:00-07:00"}, "quiet_hours"),
            ({"glucose_unit": "mmol"}, "glucose_unit"),
            ({"glucose_unit": "MG/DL"}, "glucose_unit"),
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "n" * 201}, "name"),
            ({"outreach_opt_out": "maybe"}, "outreach_opt_out"),
            ({"role": "admin"}, "role"),
            ({"email": "new@example.org"}, "email"),
            ({"specialty": "cardiology"}, "specialty"),
            ({"id": "0123456789abcdef01234567"}, "id"),
            ({"favourite_colour": "blue"}, "favourite_colour"),
        ],
    )
    def test_bad_values_are_422_naming_the_field_and_nothing_is_stored(
        self, client, mongo, factory, changes, field
    ):
        patient = factory.patient(timezone="Europe/Oslo")
        before = stored(mongo, patient)
        # A valid change next to the bad one must not be stored either.
        response = client.patch(
            ME, json={"reminder_time": "06:00", **changes}, headers=factory.headers(patient)
        )
        body = assert_problem(response, 422)
        assert field in body["errors"], body
        assert stored(mongo, patient) == before

    def test_a_body_that_is_not_an_object_is_422(self, client, factory):
        response = client.patch(ME, json=["name"], headers=factory.headers(factory.patient()))
        assert_problem(response, 422)

    def test_without_a_token_it_is_401(self, client):
        assert_problem(client.patch(ME, json={"name": "x"}), 401)
