"""Outreach campaigns: cohorts, bad input, dry runs, and the outcomes a clinic wants to see."""

from datetime import timedelta

import pytest
from bson import ObjectId

from api.clock import utcnow
from api.schemas import shipped
from api.services.care import education
from api.services.clinic import campaigns
from tests.test_foundation import assert_problem
from tests.test_population import enrol, make_clinic, set_adherence

ITEM = "t2d-looking-after-your-feet"
MESSAGE = {"title": "Time for your HbA1c test", "body": "Book it at https://clinic.example.org."}


def campaign_url(cid: str, suffix: str = "") -> str:
    return f"/api/v1/clinics/{cid}/campaigns{suffix}"


def body(**overrides) -> dict:
    data = {"name": "HbA1c recall", "cohort": {"care_gap": "hba1c"}, "message": dict(MESSAGE)}
    data.update(overrides)
    return data


def post(client, factory, provider, cid, data, **query):
    return client.post(
        campaign_url(cid), json=data, query_string=query, headers=factory.headers(provider)
    )


def outcome(client, factory, provider, cid, campaign_id):
    response = client.get(campaign_url(cid, f"/{campaign_id}"), headers=factory.headers(provider))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def nothing_stored(mongo) -> None:
    assert mongo.campaigns.count_documents({}) == 0
    assert mongo.notifications.count_documents({"kind": "outreach"}) == 0


@pytest.fixture
def clinic(client, factory):
    education.load_starter_library(shipped.starter_items())
    provider = factory.provider()
    return provider, make_clinic(client, factory, provider)


class TestCreating:
    def test_a_cohort_is_chosen_and_stored(self, client, factory, clinic, mongo):
        provider, cid = clinic
        low = [enrol(client, factory, provider) for _ in range(2)]
        high = enrol(client, factory, provider)
        enrol(client, factory, provider, conditions=("hypertension",), checkups=[])
        for patient in low:
            set_adherence(patient, 30.0)
        set_adherence(high, 90.0)
        data = body(cohort={"condition": "Type 2 Diabetes", "adherence_below": 50})
        response = post(client, factory, provider, cid, data)
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        assert created["cohort_size"] == 2
        assert created["cohort"] == {"condition": "type 2 diabetes", "adherence_below": 50.0}
        assert created["status"] == "scheduled"
        stored = mongo.campaigns.find_one({"_id": ObjectId(created["id"])})
        assert sorted(stored["targets"]) == sorted(p.pk for p in low)
        assert stored["created_by"] == provider.pk
        assert mongo.notifications.count_documents({}) == 0  # the worker sends it

    def test_age_range_and_opt_out(self, client, factory, clinic):
        provider, cid = clinic
        today = utcnow().date()
        young = enrol(client, factory, provider)
        old = enrol(client, factory, provider)
        out = enrol(client, factory, provider)
        for patient, years in ((young, 30), (old, 70), (out, 70)):
            born = today.replace(year=today.year - years) - timedelta(days=1)
            patient.update(set__birth_date=born)
        # The profile copies follow a profile change made through the API.
        for patient in (young, old, out):
            client.patch("/api/v1/me", json={"name": "Pat"}, headers=factory.headers(patient))
        client.patch("/api/v1/me", json={"outreach_opt_out": True}, headers=factory.headers(out))
        data = body(cohort={"age_min": 65, "age_max": 75})
        dry = post(client, factory, provider, cid, data, dry_run="true")
        assert dry.status_code == 200 and dry.get_json() == {"cohort_size": 1}
        assert (
            post(client, factory, provider, cid, body(cohort={"age_max": 40})).get_json()[
                "cohort_size"
            ]
            == 1
        )

    def test_dry_run_stores_nothing(self, client, factory, clinic, mongo):
        provider, cid = clinic
        for _ in range(3):
            enrol(client, factory, provider)
        response = post(client, factory, provider, cid, body(), dry_run="true")
        assert response.status_code == 200
        assert response.get_json() == {"cohort_size": 3}
        nothing_stored(mongo)

    def test_a_provider_outside_the_clinic_gets_404(self, client, factory, clinic, mongo):
        provider, cid = clinic
        enrol(client, factory, provider)
        outsider = factory.provider()
        make_clinic(client, factory, outsider, name="Southside")
        assert_problem(post(client, factory, outsider, cid, body()), 404)
        assert_problem(post(client, factory, outsider, cid, body(), dry_run="true"), 404)
        nothing_stored(mongo)
        created = post(client, factory, provider, cid, body()).get_json()
        response = client.get(
            campaign_url(cid, f"/{created['id']}"), headers=factory.headers(outsider)
        )
        assert_problem(response, 404)
        other = make_clinic(client, factory, provider, name="Westside")
        response = client.get(
            campaign_url(other, f"/{created['id']}"), headers=factory.headers(provider)
        )
        assert_problem(response, 404)
        for bad in (str(ObjectId()), "nope"):
            response = client.get(campaign_url(cid, f"/{bad}"), headers=factory.headers(provider))
            assert_problem(response, 404)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"cohort": {}}, "cohort"),
            ({"cohort": {"condition": None}}, "cohort.condition"),
            ({"cohort": {"age_min": 70, "age_max": 60}}, "cohort.age_max"),
            ({"cohort": {"adherence_below": 0}}, "cohort.adherence_below"),
            ({"cohort": {"adherence_below": "low"}}, "cohort.adherence_below"),
            ({"cohort": {"age_min": 10**9}}, "cohort.age_min"),
            ({"cohort": {"care_gap": "HbA1c!"}}, "cohort.care_gap"),
            ({"cohort": {"care_gap": "hba1c", "everyone": True}}, "cohort.everyone"),
            ({"cohort": {"condition": "dragon pox"}}, "cohort.condition"),
            ({"cohort": {"care_gap": "colonoscopy"}}, "cohort.care_gap"),
            ({"message": {"title": "Hi", "body": "See http://clinic.example.org"}}, "message.body"),
            ({"message": {"title": "Hi", "body": "[x](javascript:alert(1))"}}, "message.body"),
            ({"message": {"title": "Hi", "body": "javascript:alert(1)"}}, "message.body"),
            ({"message": {"title": "Hi", "body": "<script>alert(1)</script>"}}, "message.body"),
            ({"message": {"title": "ftp://x.org", "body": "Hello"}}, "message.title"),
            ({"message": {"title": " ", "body": "Hello"}}, "message.title"),
            ({"message": {"title": "Hi", "body": "x" * 1001}}, "message.body"),
            ({"message": {"title": "Hi"}}, "message.body"),
            ({"education_item_id": "no-such-item"}, "education_item_id"),
            ({"education_item_id": "x" * 41}, "education_item_id"),
            ({"send_at": "2020-01-01T00:00:00Z"}, "send_at"),
            ({"send_at": "2030-01-01T00:00:00"}, "send_at"),
            ({"name": ""}, "name"),
            ({"name": 42}, "name"),
            ({"target_everyone": True}, "target_everyone"),
        ],
    )
    def test_bad_input_is_422_and_stores_nothing(
        self, client, factory, clinic, mongo, change, field
    ):
        provider, cid = clinic
        enrol(client, factory, provider)
        response = post(client, factory, provider, cid, body(**change))
        assert field in assert_problem(response, 422)["errors"]
        nothing_stored(mongo)

    def test_a_provider_item_is_not_patient_outreach(self, client, factory, clinic, mongo):
        provider, cid = clinic
        enrol(client, factory, provider)
        response = post(
            client,
            factory,
            provider,
            cid,
            body(education_item_id="prov-early-diabetic-foot-complications"),
        )
        assert "education_item_id" in assert_problem(response, 422)["errors"]
        nothing_stored(mongo)


class TestOutcomes:
    def test_outcomes_move_with_reading_education_and_closing_the_gap(
        self, client, factory, clinic, mongo
    ):
        provider, cid = clinic
        patients = [
            enrol(client, factory, provider, education=[{"title": "Feet", "item_id": ITEM}])
            for _ in range(3)
        ]
        created = post(client, factory, provider, cid, body(education_item_id=ITEM)).get_json()
        assert created["cohort_size"] == 3
        before = outcome(client, factory, provider, cid, created["id"])
        assert {k: before[k] for k in ("targeted", "delivered", "read")} == {
            "targeted": 3,
            "delivered": 0,
            "read": 0,
        }

        campaigns.deliver_due(now=utcnow(), worker="w1")
        sent = outcome(client, factory, provider, cid, created["id"])
        assert (sent["delivered"], sent["read"], sent["status"], sent["pending"]) == (
            3,
            0,
            "sent",
            0,
        )
        inbox = client.get(
            "/api/v1/patients/me/notifications", headers=factory.headers(patients[0])
        ).get_json()
        assert [(n["kind"], n["title"]) for n in inbox] == [("outreach", MESSAGE["title"])]
        assert "Recommended reading" in inbox[0]["body"]

        read = client.post(
            f"/api/v1/patients/me/notifications/{inbox[0]['id']}/read",
            headers=factory.headers(patients[0]),
        )
        assert read.status_code == 200, read.get_json()
        done = client.post(
            f"/api/v1/patients/me/education/{ITEM}/progress",
            json={"status": "completed"},
            headers=factory.headers(patients[1]),
        )
        assert done.status_code in (200, 201), done.get_json()
        checkup = client.get(
            f"/api/v1/patients/{patients[2].pk}/checkups", headers=factory.headers(provider)
        ).get_json()[0]
        closed = client.post(
            f"/api/v1/patients/{patients[2].pk}/checkups/{checkup['id']}/completions",
            json={"done_on": utcnow().date().isoformat()},
            headers=factory.headers(provider),
        )
        assert closed.status_code == 201, closed.get_json()

        after = outcome(client, factory, provider, cid, created["id"])
        assert {
            k: after[k]
            for k in ("targeted", "delivered", "read", "education_completed", "gap_closed_30d")
        } == {
            "targeted": 3,
            "delivered": 3,
            "read": 1,
            "education_completed": 1,
            "gap_closed_30d": 1,
        }

    def test_a_gap_closed_after_30_days_does_not_count(self, client, factory, clinic, mongo):
        provider, cid = clinic
        patient = enrol(client, factory, provider)
        created = post(client, factory, provider, cid, body()).get_json()
        campaigns.deliver_due(now=utcnow(), worker="w1")
        # The campaign went out 31 days before the gap closed.
        mongo.campaigns.update_one(
            {"_id": ObjectId(created["id"])},
            {"$set": {"first_sent_at": utcnow() - timedelta(days=31)}},
        )
        checkup = client.get(
            f"/api/v1/patients/{patient.pk}/checkups", headers=factory.headers(provider)
        ).get_json()[0]
        client.post(
            f"/api/v1/patients/{patient.pk}/checkups/{checkup['id']}/completions",
            json={"done_on": utcnow().date().isoformat()},
            headers=factory.headers(provider),
        )
        assert outcome(client, factory, provider, cid, created["id"])["gap_closed_30d"] == 0
