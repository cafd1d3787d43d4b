"""Clinics: created by admins, providers placed in them, their patients."""

import pytest
from bson import ObjectId

from api.services.clinic import clinics
from tests.test_foundation import assert_problem

ADMIN_CLINICS = "/api/v1/admin/clinics"


@pytest.fixture
def admin_headers(factory):
    return factory.headers(factory.admin())


def create_clinic(client, headers, name="Northside Family Practice"):
    response = client.post(ADMIN_CLINICS, json={"name": name}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def place(client, headers, clinic_id, provider):
    return client.post(
        f"{ADMIN_CLINICS}/{clinic_id}/providers",
        json={"provider_id": str(provider.pk)},
        headers=headers,
    )


class TestAdmin:
    def test_an_admin_creates_a_clinic(self, client, admin_headers, mongo):
        clinic = create_clinic(client, admin_headers, "  Northside Family Practice ")
        assert clinic["name"] == "Northside Family Practice"
        assert clinic["providers"] == [] and clinic["patient_count"] == 0
        stored = mongo.clinics.find_one({"_id": ObjectId(clinic["id"])})
        assert stored["name_key"] == "northside family practice"

        duplicate = client.post(
            ADMIN_CLINICS, json={"name": "NORTHSIDE family  practice"}, headers=admin_headers
        )
        assert assert_problem(duplicate, 409)["detail"] == "A clinic with this name already exists."
        assert mongo.clinics.count_documents({}) == 1

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"name": 42}, "name"),
            ({"name": "Ok", "region": "north"}, "region"),
        ],
    )
    def test_bad_clinics_are_422_and_store_nothing(
        self, client, admin_headers, mongo, payload, field
    ):
        response = client.post(ADMIN_CLINICS, json=payload, headers=admin_headers)
        assert field in assert_problem(response, 422)["errors"]
        assert mongo.clinics.count_documents({}) == 0

    def test_only_admins_manage_clinics(self, client, factory, admin_headers, mongo):
        clinic = create_clinic(client, admin_headers)
        provider = factory.provider()
        for user in (provider, factory.patient()):
            headers = factory.headers(user)
            assert_problem(client.post(ADMIN_CLINICS, json={"name": "Mine"}, headers=headers), 403)
            assert_problem(place(client, headers, clinic["id"], provider), 403)
        assert mongo.clinics.find_one({"_id": ObjectId(clinic["id"])})["providers"] == []

    def test_placing_a_provider_is_idempotent(self, client, factory, admin_headers, mongo):
        clinic = create_clinic(client, admin_headers)
        provider = factory.provider(name="Dr. Ann Berg", specialty="cardiology")
        first = place(client, admin_headers, clinic["id"], provider)
        again = place(client, admin_headers, clinic["id"], provider)
        assert first.status_code == again.status_code == 201
        assert again.get_json()["providers"] == [
            {"id": str(provider.pk), "name": "Dr. Ann Berg", "specialty": "cardiology"}
        ]
        assert mongo.clinics.find_one({"_id": ObjectId(clinic["id"])})["providers"] == [provider.pk]

    @pytest.mark.parametrize(
        "clinic_id", [str(ObjectId()), "not-an-id"], ids=["unknown", "malformed"]
    )
    def test_unknown_clinic_is_404(self, client, factory, admin_headers, clinic_id):
        response = place(client, admin_headers, clinic_id, factory.provider())
        assert_problem(response, 404)

    def test_unknown_provider_is_422_and_changes_nothing(
        self, client, factory, admin_headers, mongo
    ):
        clinic = create_clinic(client, admin_headers)
        url = f"{ADMIN_CLINICS}/{clinic['id']}/providers"
        for provider_id in (str(ObjectId()), str(factory.patient().pk), "nope", "x" * 65):
            response = client.post(url, json={"provider_id": provider_id}, headers=admin_headers)
            assert "provider_id" in assert_problem(response, 422)["errors"]
        response = client.post(url, json={"provider_id": 1, "x": 1}, headers=admin_headers)
        assert {"provider_id", "x"} <= set(assert_problem(response, 422)["errors"])
        assert mongo.clinics.find_one({"_id": ObjectId(clinic["id"])})["providers"] == []


class TestReading:
    def test_providers_of_the_clinic_read_it_others_get_404(self, client, factory, admin_headers):
        clinic = create_clinic(client, admin_headers)
        member, outsider = factory.provider(), factory.provider()
        place(client, admin_headers, clinic["id"], member)
        patient = factory.patient()
        factory.membership(patient, member)

        response = client.get(f"/api/v1/clinics/{clinic['id']}", headers=factory.headers(member))
        assert response.status_code == 200
        assert response.get_json()["patient_count"] == 1
        assert response.headers["ETag"]
        assert client.get(f"/api/v1/clinics/{clinic['id']}", headers=admin_headers).status_code == (
            200
        )

        outside = client.get(f"/api/v1/clinics/{clinic['id']}", headers=factory.headers(outsider))
        assert_problem(outside, 404)
        unknown = client.get(f"/api/v1/clinics/{ObjectId()}", headers=factory.headers(member))
        assert_problem(unknown, 404)
        as_patient = client.get(f"/api/v1/clinics/{clinic['id']}", headers=factory.headers(patient))
        assert_problem(as_patient, 403)


class TestServices:
    def test_clinic_patients_are_the_active_teams_of_its_providers(
        self, client, factory, admin_headers
    ):
        clinic = create_clinic(client, admin_headers)
        gp, cardiologist, elsewhere = factory.provider(), factory.provider(), factory.provider()
        for provider in (gp, cardiologist):
            place(client, admin_headers, clinic["id"], provider)
        shared, gp_only, pending, ended, other = (factory.patient() for _ in range(5))
        factory.membership(shared, gp)
        factory.membership(shared, cardiologist, role="specialist")
        factory.membership(gp_only, gp)
        factory.membership(pending, cardiologist, status="pending")
        factory.membership(ended, gp, status="ended")
        factory.membership(other, elsewhere)

        assert sorted(clinics.clinic_patient_ids(clinic["id"])) == sorted([shared.pk, gp_only.pk])
        assert clinics.is_member(clinic["id"], gp.pk)
        assert clinics.is_member(clinic["id"], str(cardiologist.pk))
        assert not clinics.is_member(clinic["id"], elsewhere.pk)
        assert not clinics.is_member("not-an-id", gp.pk)
        assert not clinics.is_member(str(ObjectId()), gp.pk)
