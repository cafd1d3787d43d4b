"""The medication list through HTTP: prescribing, self-reports, the duplicate therapy guard,
changes and stops, bad input and who may do what."""

import json
from datetime import timedelta

import pytest
from bson import ObjectId

from api.clock import utcnow
from api.errors import PROBLEM_JSON
from api.services.care import medications

METFORMIN = {
    "name": "Metformin",
    "dose": "500 mg",
    "route": "oral",
    "frequency": "twice daily",
    "start_on": "2024-01-10",
}


def drug(**fields):
    return {**METFORMIN, **fields}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status
    return body


@pytest.fixture
def care(factory):
    """A patient with a primary care provider on the team."""
    patient = factory.patient(name="Pat Jones")
    provider = factory.provider(name="Dr Ada Moss")
    factory.membership(patient, provider)
    return patient, provider


@pytest.fixture
def url(care):
    return f"/api/v1/patients/{care[0].pk}/medications"


@pytest.fixture
def prescribe(client, factory, care, url):
    """POST as the provider on the team (or as `user`)."""

    def post(body, user=None, target=None):
        return client.post(target or url, json=body, headers=factory.headers(user or care[1]))

    return post


def stored(mongo, **query):
    return list(mongo.medications.find(query))


class TestPrescribing:
    def test_a_provider_prescribes_and_the_name_resolves_to_its_atc_entry(
        self, prescribe, care, mongo
    ):
        response = prescribe(drug(name="Glucophage", reason="type 2 diabetes"))
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert body["name"] == "Glucophage"
        assert body["ingredient"] == "metformin"
        assert body["atc_code"] == "A10BA02"
        assert body["unverified"] is False
        assert body["status"] == "active"
        assert body["start_on"] == "2024-01-10"
        assert body["prescriber"] == {"id": str(care[1].pk), "name": "Dr Ada Moss"}
        assert body["self_reported"] is False
        assert body["reported_by"]["id"] == str(care[1].pk)
        assert body["duplicate_override"] is None
        (doc,) = stored(mongo)
        assert doc["_id"] == ObjectId(body["id"])
        assert doc["patient"] == care[0].pk
        assert doc["atc_subgroup"] == "A10BA"
        assert doc["ingredient_keys"] == ["metformin"]
        assert doc["reason"] == "type 2 diabetes"

    def test_a_given_code_is_checked_against_the_name(self, prescribe, mongo):
        response = prescribe(drug(name="Glucophage", atc_code="C09AA05"))
        body = assert_problem(response, 422)
        assert "A10BA02" in body["errors"]["atc_code"][0]
        assert stored(mongo) == []
        ok = prescribe(drug(name="Metfin 850", atc_code="A10BA02"))
        assert ok.status_code == 201
        assert ok.get_json()["ingredient"] == "metformin"
        assert ok.get_json()["unverified"] is False

    def test_the_list_shows_active_first_with_prescriber_and_filters(
        self, prescribe, client, factory, care, url
    ):
        first = prescribe(drug(start_on="2023-05-01")).get_json()
        prescribe(drug(name="Atorvastatin", dose="20 mg", start_on="2024-02-01"))
        prescribe(drug(name="Lisinopril", dose="10 mg", start_on="2023-01-01"))
        client.patch(
            f"{url}/{first['id']}",
            json={"stop_on": "2024-01-01", "stop_reason": "kidney function"},
            headers=factory.headers(care[1]),
        )
        response = client.get(url, headers=factory.headers(care[0]))
        assert response.status_code == 200
        listed = response.get_json()
        assert [m["name"] for m in listed] == ["Atorvastatin", "Lisinopril", "Metformin"]
        assert [m["status"] for m in listed] == ["active", "active", "stopped"]
        assert all(m["prescriber"]["name"] == "Dr Ada Moss" for m in listed)
        assert json.loads(response.headers["X-Pagination"])["total"] == 3

        stopped = client.get(f"{url}?status=stopped", headers=factory.headers(care[1]))
        assert [m["name"] for m in stopped.get_json()] == ["Metformin"]
        assert stopped.get_json()[0]["stop_reason"] == "kidney function"
        page = client.get(f"{url}?page_size=2&page=2", headers=factory.headers(care[1]))
        assert [m["name"] for m in page.get_json()] == ["Metformin"]
        bad = client.get(f"{url}?status=paused", headers=factory.headers(care[1]))
        assert "status" in assert_problem(bad, 422)["errors"]

    def test_active_for_gives_the_active_medications_only(
        self, prescribe, client, factory, care, url
    ):
        prescribe(drug(start_on="2023-01-01"))
        gone = prescribe(drug(name="Ramipril", dose="5 mg")).get_json()
        prescribe(drug(name="Atorvastatin", dose="20 mg", start_on="2024-03-01"))
        client.patch(
            f"{url}/{gone['id']}", json={"stop_on": "2024-02-01"}, headers=factory.headers(care[1])
        )
        active = medications.active_for(care[0].pk)
        assert [m.name for m in active] == ["Atorvastatin", "Metformin"]
        assert all(m.status == "active" for m in active)
        assert medications.active_for(factory.patient().pk) == []


class TestDuplicateTherapyGuard:
    def test_the_same_ingredient_by_name_is_refused_naming_the_existing_one(
        self, prescribe, care, mongo
    ):
        first = prescribe(drug()).get_json()
        response = prescribe(drug(name="  METFORMIN ", dose="1000 mg", start_on="2024-05-01"))
        body = assert_problem(response, 409)
        assert "Metformin" in body["detail"]
        assert "Dr Ada Moss" in body["detail"]
        assert "2024-01-10" in body["detail"]
        (existing,) = body["duplicates"]
        assert existing["id"] == first["id"]
        assert existing["name"] == "Metformin"
        assert existing["prescriber"] == {"id": str(care[1].pk), "name": "Dr Ada Moss"}
        assert existing["since"] == "2024-01-10"
        assert existing["match"] == "same_ingredient"
        assert len(stored(mongo)) == 1

    @pytest.mark.parametrize("name", ["Glucophage", "glucophage xr 750 mg", "Janumet"])
    def test_the_same_ingredient_by_synonym_or_combination_is_refused(self, prescribe, mongo, name):
        first = prescribe(drug()).get_json()
        body = assert_problem(prescribe(drug(name=name)), 409)
        assert [d["id"] for d in body["duplicates"]] == [first["id"]]
        assert body["duplicates"][0]["match"] == "same_ingredient"
        assert len(stored(mongo)) == 1

    def test_the_same_ingredient_by_another_route_is_still_a_duplicate(self, prescribe):
        prescribe(drug(name="Ventolin", route="inhaled", dose="100 mcg", frequency="as needed"))
        body = assert_problem(prescribe(drug(name="salbutamol", dose="4 mg")), 409)
        assert body["duplicates"][0]["name"] == "Ventolin"

    def test_the_same_subgroup_by_the_same_route_is_refused(self, prescribe, mongo):
        lisinopril = prescribe(drug(name="Lisinopril", dose="10 mg")).get_json()
        assert lisinopril["atc_code"] == "C09AA03"
        body = assert_problem(prescribe(drug(name="Tritace", dose="5 mg")), 409)
        (existing,) = body["duplicates"]
        assert existing["id"] == lisinopril["id"]
        assert existing["match"] == "same_subgroup_and_route"
        assert existing["atc_code"] == "C09AA03"
        assert len(stored(mongo)) == 1

    def test_the_same_subgroup_by_another_route_is_allowed(self, prescribe, mongo):
        prescribe(drug(name="Prednisolone", dose="30 mg"))
        response = prescribe(
            drug(name="Solu-Medrol", route="intravenous", dose="125 mg", frequency="once")
        )
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["atc_code"] == "H02AB04"
        assert len(stored(mongo)) == 2

    def test_another_subgroup_of_the_same_group_is_allowed(self, prescribe):
        prescribe(drug(name="Lisinopril", dose="10 mg"))
        response = prescribe(drug(name="Losartan", dose="50 mg"))
        assert response.status_code == 201
        assert response.get_json()["atc_code"] == "C09CA01"

    def test_a_stopped_medication_does_not_count(self, prescribe, client, factory, care, url):
        first = prescribe(drug(name="Lisinopril", dose="10 mg")).get_json()
        stop = client.patch(
            f"{url}/{first['id']}",
            json={"stop_on": "2024-03-01", "stop_reason": "cough"},
            headers=factory.headers(care[1]),
        )
        assert stop.status_code == 200
        response = prescribe(drug(name="Ramipril", dose="2.5 mg", start_on="2024-03-02"))
        assert response.status_code == 201
        assert response.get_json()["duplicate_override"] is None

    def test_confirming_keeps_the_reason_and_who_confirmed(self, prescribe, care, mongo):
        first = prescribe(drug()).get_json()
        assert_problem(prescribe(drug(name="Janumet", confirm_duplicate=False)), 409)
        response = prescribe(
            drug(
                name="Janumet",
                confirm_duplicate=True,
                reason="switching to the combination tablet next week",
            )
        )
        assert response.status_code == 201, response.get_json()
        override = response.get_json()["duplicate_override"]
        assert override["reason"] == "switching to the combination tablet next week"
        assert override["confirmed_by"] == {"id": str(care[1].pk), "name": "Dr Ada Moss"}
        assert override["duplicates"] == [first["id"]]
        assert override["confirmed_at"].endswith("Z")
        doc = mongo.medications.find_one({"_id": ObjectId(response.get_json()["id"])})
        assert doc["duplicate_override"]["reason"].startswith("switching")
        assert doc["duplicate_override"]["confirmed_by"]["id"] == care[1].pk
        assert doc["duplicate_override"]["duplicates"] == [ObjectId(first["id"])]
        assert doc["ingredient_keys"] == ["metformin", "sitagliptin"]

    def test_confirming_without_a_reason_is_refused(self, prescribe, mongo):
        prescribe(drug())
        for body in (drug(confirm_duplicate=True), drug(confirm_duplicate=True, reason="   ")):
            problem = assert_problem(prescribe(body), 422)
            assert list(problem["errors"]) == ["reason"]
        assert len(stored(mongo)) == 1

    def test_an_unverified_drug_is_stored_as_such_and_checked_by_name(self, prescribe, mongo):
        response = prescribe(drug(name="Zorbix", dose="10 mg"))
        assert response.status_code == 201
        body = response.get_json()
        assert body["unverified"] is True
        assert body["ingredient"] is None and body["atc_code"] is None
        for same in ("ZORBIX", " zorbix  10 mg tablets"):
            problem = assert_problem(prescribe(drug(name=same)), 409)
            assert problem["duplicates"][0]["id"] == body["id"]
        assert prescribe(drug(name="Quaxil")).status_code == 201
        assert prescribe(drug()).status_code == 201
        assert len(stored(mongo)) == 3
        assert stored(mongo, name="Zorbix")[0]["ingredient_keys"] == ["zorbix"]

    def test_an_unverified_drug_with_an_unknown_code_is_checked_by_name_only(
        self, prescribe, mongo
    ):
        prescribe(drug(name="Lisinopril", dose="10 mg"))
        response = prescribe(drug(name="Foopril", atc_code="C09AA99", dose="1 mg"))
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["unverified"] is True
        assert response.get_json()["atc_code"] == "C09AA99"
        assert stored(mongo, name="Foopril")[0].get("atc_subgroup") is None

    def test_a_self_reported_duplicate_names_who_reported_it(self, prescribe, care):
        patient, _provider = care
        prescribe(drug(name="Nurofen", dose="200 mg", frequency="as needed"), user=patient)
        body = assert_problem(prescribe(drug(name="ibuprofen", dose="400 mg")), 409)
        assert "self-reported by Pat Jones" in body["detail"]
        assert body["duplicates"][0]["prescriber"] is None
        assert body["duplicates"][0]["self_reported"] is True


class TestBadInput:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"atc_code": "A10BA2"}, "atc_code"),
            ({"atc_code": "a10ba02"}, "atc_code"),
            ({"atc_code": "A10BA021"}, "atc_code"),
            ({"atc_code": 1234567}, "atc_code"),
            ({"route": "by mouth"}, "route"),
            ({"route": None}, "route"),
            ({"name": "x" * 201}, "name"),
            ({"name": "   "}, "name"),
            ({"name": ["Metformin"]}, "name"),
            ({"dose": "5" * 101}, "dose"),
            ({"frequency": "d" * 101}, "frequency"),
            ({"reason": "r" * 1001}, "reason"),
            ({"start_on": "10/01/2024"}, "start_on"),
            ({"start_on": "2024-02-30"}, "start_on"),
            ({"confirm_duplicate": "maybe"}, "confirm_duplicate"),
            ({"prescriber_id": "someone"}, "prescriber_id"),
            ({"self_reported": False}, "self_reported"),
        ],
    )
    def test_bad_fields_are_named_and_nothing_is_stored(self, prescribe, mongo, change, field):
        body = assert_problem(prescribe(drug(**change)), 422)
        assert field in body["errors"], body
        assert stored(mongo) == []

    @pytest.mark.parametrize("missing", ["name", "dose", "route", "frequency", "start_on"])
    def test_required_fields(self, prescribe, mongo, missing):
        body = drug()
        del body[missing]
        assert missing in assert_problem(prescribe(body), 422)["errors"]
        assert stored(mongo) == []

    def test_a_body_that_is_not_an_object_or_not_json(self, client, factory, care, url):
        headers = factory.headers(care[1])
        assert_problem(client.post(url, json=["Metformin"], headers=headers), 422)
        garbled = client.post(
            url, data="{not json", headers={**headers, "Content-Type": "application/json"}
        )
        assert_problem(garbled, 400)


class TestChanges:
    @pytest.fixture
    def medication(self, prescribe):
        return prescribe(drug()).get_json()

    @pytest.fixture
    def patch(self, client, factory, care, url, medication):
        def send(body, user=None, mid=None):
            return client.patch(
                f"{url}/{mid or medication['id']}",
                json=body,
                headers=factory.headers(user or care[1]),
            )

        return send

    def test_changing_the_dose_keeps_the_previous_one(self, patch, care, mongo):
        response = patch({"dose": "1000 mg", "frequency": "once daily"})
        assert response.status_code == 200
        body = response.get_json()
        assert body["dose"] == "1000 mg" and body["frequency"] == "once daily"
        (change,) = body["changes"]
        assert change["dose"] == "500 mg" and change["frequency"] == "twice daily"
        assert change["by"] == {"id": str(care[1].pk), "name": "Dr Ada Moss"}
        (doc,) = stored(mongo)
        assert doc["dose"] == "1000 mg" and doc["changes"][0]["dose"] == "500 mg"
        assert patch({"dose": "1000 mg"}).get_json()["changes"] == body["changes"]

    def test_stopping(self, patch, care, mongo):
        response = patch({"stop_on": "2024-06-30", "stop_reason": "gastro-intestinal upset"})
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "stopped"
        assert body["stop_on"] == "2024-06-30"
        assert body["stop_reason"] == "gastro-intestinal upset"
        assert body["stopped_by"]["id"] == str(care[1].pk)
        (doc,) = stored(mongo)
        assert doc["status"] == "stopped" and doc["stopped_by"]["name"] == "Dr Ada Moss"
        again = assert_problem(patch({"dose": "250 mg"}), 409)
        assert "2024-06-30" in again["detail"]
        assert stored(mongo)[0]["dose"] == "500 mg"

    def test_stopping_on_the_start_day_is_fine(self, patch):
        assert patch({"stop_on": "2024-01-10"}).status_code == 200

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"stop_on": "2024-01-09", "stop_reason": "error"}, "stop_on"),
            ({"stop_reason": "no date"}, "stop_on"),
            ({"stop_on": "yesterday"}, "stop_on"),
            ({}, "_body"),
            ({"dose": ""}, "dose"),
            ({"dose": "9" * 101}, "dose"),
            ({"stop_reason": "s" * 1001, "stop_on": "2024-02-01"}, "stop_reason"),
            ({"route": "inhaled"}, "route"),
            ({"status": "stopped"}, "status"),
        ],
    )
    def test_bad_changes_are_named_and_nothing_changes(self, patch, mongo, body, field):
        problem = assert_problem(patch(body), 422)
        assert field in problem["errors"], problem
        (doc,) = stored(mongo)
        assert doc["status"] == "active" and doc["dose"] == "500 mg"
        assert "stop_on" not in doc and doc.get("changes", []) == []

    def test_a_stop_date_in_the_future_is_refused(self, patch, mongo):
        future = (utcnow() + timedelta(days=3)).date().isoformat()
        assert "stop_on" in assert_problem(patch({"stop_on": future}), 422)["errors"]
        assert stored(mongo)[0]["status"] == "active"

    @pytest.mark.parametrize("mid", ["nope", str(ObjectId())], ids=["malformed", "unknown"])
    def test_an_unknown_medication_is_404(self, patch, mid):
        assert_problem(patch({"dose": "1 mg"}, mid=mid), 404)


class TestWhoMayDoWhat:
    def test_the_patient_self_reports(self, prescribe, care, client, factory, url, mongo):
        patient, _provider = care
        response = prescribe(drug(name="Nurofen", dose="200 mg"), user=patient)
        assert response.status_code == 201
        body = response.get_json()
        assert body["self_reported"] is True
        assert body["prescriber"] is None
        assert body["reported_by"] == {"id": str(patient.pk), "name": "Pat Jones"}
        me = client.post(
            "/api/v1/patients/me/medications",
            json=drug(name="Omeprazole", dose="20 mg"),
            headers=factory.headers(patient),
        )
        assert me.status_code == 201
        assert {d["self_reported"] for d in stored(mongo)} == {True}

    def test_a_caregiver_with_log_self_reports_and_with_view_only_reads(
        self, prescribe, care, client, factory, url, mongo
    ):
        patient, _provider = care
        parent = factory.user("patient", name="Sam Jones")
        factory.grant(patient, parent, permissions=("log",))
        response = prescribe(drug(name="Calpol", dose="5 ml", frequency="as needed"), user=parent)
        assert response.status_code == 201
        body = response.get_json()
        assert body["self_reported"] is True
        assert body["reported_by"] == {"id": str(parent.pk), "name": "Sam Jones"}

        viewer = factory.user("patient", name="Viv Jones")
        factory.grant(patient, viewer, permissions=("view",))
        assert_problem(prescribe(drug(), user=viewer), 403)
        listed = client.get(url, headers=factory.headers(viewer))
        assert listed.status_code == 200
        assert [m["name"] for m in listed.get_json()] == ["Calpol"]
        assert len(stored(mongo)) == 1

    def test_only_a_provider_on_the_team_changes_a_medication(
        self, prescribe, care, client, factory, url, mongo
    ):
        patient, _provider = care
        mid = prescribe(drug()).get_json()["id"]
        parent = factory.user("patient")
        factory.grant(patient, parent, permissions=("manage",))
        for user in (patient, parent):
            response = client.patch(
                f"{url}/{mid}", json={"stop_on": "2024-02-01"}, headers=factory.headers(user)
            )
            assert_problem(response, 403)
        assert stored(mongo)[0]["status"] == "active"

    def test_strangers_and_former_team_members_get_404(
        self, prescribe, care, client, factory, url, mongo
    ):
        patient, _provider = care
        mid = prescribe(drug()).get_json()["id"]
        stranger = factory.provider()
        former = factory.provider()
        factory.membership(patient, former, status="ended")
        expired = factory.user("patient")
        factory.grant(patient, expired, permissions=("log",), status="ended")
        for user in (stranger, former, expired, factory.patient()):
            headers = factory.headers(user)
            assert_problem(client.get(url, headers=headers), 404)
            assert_problem(client.post(url, json=drug(name="Zorbix"), headers=headers), 404)
            response = client.patch(f"{url}/{mid}", json={"dose": "1 mg"}, headers=headers)
            assert_problem(response, 404)
        assert len(stored(mongo)) == 1 and stored(mongo)[0]["dose"] == "500 mg"

    def test_another_patients_medication_is_404_even_to_a_shared_provider(
        self, prescribe, care, client, factory, url, mongo
    ):
        _patient, provider = care
        other = factory.patient()
        factory.membership(other, provider)
        theirs = prescribe(drug(), target=f"/api/v1/patients/{other.pk}/medications").get_json()
        response = client.patch(
            f"{url}/{theirs['id']}", json={"dose": "1 mg"}, headers=factory.headers(provider)
        )
        assert_problem(response, 404)
        mine = prescribe(drug())
        assert mine.status_code == 201  # the other patient's metformin is not a duplicate
        assert stored(mongo, _id=ObjectId(theirs["id"]))[0]["dose"] == "500 mg"

    def test_without_a_token_401(self, client, url):
        assert_problem(client.get(url), 401)
        assert_problem(client.post(url, json=drug()), 401)
