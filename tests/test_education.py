"""The education library, assignment through agreements, progress, and provider ranking."""

import json
from datetime import timedelta

import pytest

from api.clock import utcnow
from api.models.agreement import Agreement, EducationRef
from api.models.caregiver import Grant
from api.schemas import shipped
from api.services.care import education
from tests.test_foundation import assert_problem

LIBRARY = "/api/v1/education"
T2D_ITEMS = ["t2d-understanding-type-2-diabetes", "t2d-looking-after-your-feet"]


def valid_item(**overrides):
    item = {
        "title": "Walking after meals",
        "summary": "A short walk after eating helps lower blood sugar.",
        "url": "https://www.nhs.uk/live-well/exercise/",
        "conditions": ["Type 2  Diabetes"],
        "audience": "patient",
        "reading_minutes": 3,
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def grant(patient, caregiver, permissions):
    return Grant(
        patient=patient.pk,
        caregiver=caregiver.pk,
        relationship="parent",
        permissions=permissions,
        status="active",
        created_by=patient.pk,
        activated_at=utcnow(),
    ).save()


def assign(factory, patient, provider, item_ids, **fields):
    refs = [EducationRef(title=f"Item {i}", item_id=i) for i in item_ids]
    return factory.agreement(patient, provider, education=refs, **fields)


@pytest.fixture
def library(app):
    education.load_starter_library(shipped.starter_items())


class TestLibrary:
    def test_starter_library_is_loaded_idempotently(self, library, mongo):
        count = mongo.education_items.count_documents({})
        assert education.load_starter_library(shipped.starter_items()) == count
        assert mongo.education_items.count_documents({}) == count
        for condition in ("type 2 diabetes", "asthma", "hypertension", "congenital heart disease"):
            patient_items = mongo.education_items.count_documents(
                {"conditions": condition, "audience": "patient"}
            )
            assert 3 <= patient_items <= 5, condition
        assert mongo.education_items.count_documents({"audience": "provider"}) >= 3
        for item in mongo.education_items.find():
            assert len(item["_id"]) <= 40
            assert (item.get("url") or "https://").startswith("https://")
            assert bool(item.get("url")) != bool(item.get("body"))

    def test_any_signed_in_user_lists_filters_and_pages(self, client, factory, library):
        headers = factory.headers(factory.patient())
        everything = client.get(f"{LIBRARY}?page_size=100", headers=headers)
        assert everything.status_code == 200
        total = json.loads(everything.headers["X-Pagination"])["total"]
        titles = [i["title"] for i in everything.get_json()]
        assert titles == sorted(titles) and len(titles) == total

        asthma = client.get(f"{LIBRARY}?condition=Asthma&audience=patient", headers=headers)
        assert {i["audience"] for i in asthma.get_json()} == {"patient"}
        assert all("asthma" in i["conditions"] for i in asthma.get_json())
        assert len(asthma.get_json()) == 4

        page = client.get(f"{LIBRARY}?page=2&page_size=5", headers=headers)
        assert page.get_json() == everything.get_json()[5:10]
        assert client.get(LIBRARY).status_code == 401

    def test_q_searches_title_and_summary_case_insensitively_by_words_and_prefixes(
        self, client, factory, library
    ):
        headers = factory.headers(factory.patient())
        found = client.get(f"{LIBRARY}?q=FEET", headers=headers).get_json()
        assert "t2d-looking-after-your-feet" in {i["id"] for i in found}
        prefix = client.get(f"{LIBRARY}?q=inhal&audience=patient", headers=headers).get_json()
        assert [i["id"] for i in prefix] == ["asthma-using-your-inhaler"]
        both = client.get(f"{LIBRARY}?q=blood%20pressure%20home", headers=headers).get_json()
        assert [i["id"] for i in both] == ["bp-measuring-at-home"]
        assert client.get(f"{LIBRARY}?q=zzzqqq", headers=headers).get_json() == []

    @pytest.mark.parametrize(
        ("query", "field"),
        [("q=%21%21%21", "q"), ("audience=everyone", "audience"), ("q=" + "a" * 101, "q")],
    )
    def test_bad_queries_are_422(self, client, factory, query, field):
        response = client.get(f"{LIBRARY}?{query}", headers=factory.headers(factory.patient()))
        assert field in assert_problem(response, 422)["errors"]

    def test_one_item_with_etag_and_safe_html(self, client, factory, library):
        headers = factory.headers(factory.patient())
        response = client.get(f"{LIBRARY}/asthma-peak-flow-zones", headers=headers)
        assert response.status_code == 200
        item = response.get_json()
        assert item["author"] == {"id": None, "name": "CarePact editorial team"}
        assert "<table>" in item["body_html"] and "<script" not in item["body_html"]
        again = client.get(
            f"{LIBRARY}/asthma-peak-flow-zones",
            headers={**headers, "If-None-Match": response.headers["ETag"]},
        )
        assert again.status_code == 304
        assert_problem(client.get(f"{LIBRARY}/no-such-item", headers=headers), 404)


class TestPublishing:
    def test_a_provider_publishes_a_link_or_a_markdown_body(self, client, factory, mongo):
        provider = factory.provider(name="Dr. Ines Ortiz", specialty="endocrinology")
        response = client.post(LIBRARY, json=valid_item(), headers=factory.headers(provider))
        assert response.status_code == 201
        item = response.get_json()
        assert item["author"] == {"id": str(provider.pk), "name": "Dr. Ines Ortiz"}
        assert item["conditions"] == ["type 2 diabetes"]
        stored = mongo.education_items.find_one({"_id": item["id"]})
        assert stored["url"] == "https://www.nhs.uk/live-well/exercise/"
        assert stored["author"] == provider.pk

        body = "Read [this](https://www.cdc.gov/diabetes/) and try `<b>`."
        markdown_item = client.post(
            LIBRARY,
            json=valid_item(url=None, body=body, audience="provider"),
            headers=factory.headers(provider),
        ).get_json()
        assert markdown_item["body"] == body
        assert markdown_item["body_html"] == (
            '<p>Read <a href="https://www.cdc.gov/diabetes/">this</a> and try '
            "<code>&lt;b&gt;</code>.</p>\n"
        )

    def test_patients_and_admins_cannot_publish(self, client, factory, mongo):
        for user in (factory.patient(), factory.admin()):
            response = client.post(LIBRARY, json=valid_item(), headers=factory.headers(user))
            assert_problem(response, 403)
        assert mongo.education_items.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"url": "http://www.nhs.uk/"}, "url"),
            ({"url": "javascript:alert(1)"}, "url"),
            ({"url": "https://"}, "url"),
            ({"url": "https://x.org/" + "a" * 2000}, "url"),
            ({"url": None}, "url"),
            ({"body": "Both are not allowed."}, "body"),
            ({"url": None, "body": "<script>alert(1)</script>"}, "body"),
            ({"url": None, "body": "[x](javascript:alert(1))"}, "body"),
            ({"url": None, "body": "x" * 20001}, "body"),
            ({"title": "x" * 201}, "title"),
            ({"title": "   "}, "title"),
            ({"summary": None}, "summary"),
            ({"audience": "everyone"}, "audience"),
            ({"reading_minutes": 0}, "reading_minutes"),
            ({"reading_minutes": 10**9}, "reading_minutes"),
            ({"reading_minutes": "ten"}, "reading_minutes"),
            ({"conditions": ["c"] * 11}, "conditions"),
            ({"conditions": ["x" * 81]}, "conditions.0"),
            ({"conditions": "asthma"}, "conditions"),
            ({"author": "someone else"}, "author"),
        ],
    )
    def test_bad_items_are_422_naming_the_field_and_store_nothing(
        self, client, factory, mongo, changes, field
    ):
        response = client.post(
            LIBRARY, json=valid_item(**changes), headers=factory.headers(factory.provider())
        )
        assert field in assert_problem(response, 422)["errors"]
        assert mongo.education_items.count_documents({}) == 0


class TestAssignmentAndProgress:
    def test_items_of_active_agreements_are_listed_with_status_and_when(
        self, client, factory, library, mongo
    ):
        patient, provider = factory.patient(), factory.provider()
        factory.membership(patient, provider)
        agreement = assign(factory, patient, provider, [*T2D_ITEMS, "no-such-item"])
        agreement.content.education.append(EducationRef(title="Free link", url="https://x.org"))
        agreement.save()
        assign(factory, patient, provider, ["asthma-what-is-asthma"], status="draft")

        response = client.get("/api/v1/patients/me/education", headers=factory.headers(patient))
        assert response.status_code == 200
        rows = response.get_json()
        assert [r["item_id"] for r in rows] == T2D_ITEMS
        assert {r["status"] for r in rows} == {"new"}
        assert rows[0]["item"]["title"] == "Understanding type 2 diabetes"
        accepted = Agreement.objects.get(pk=agreement.pk).accepted_at
        stored = mongo.education_progress.find_one({"patient": patient.pk, "item": T2D_ITEMS[0]})
        assert stored["assigned_at"].replace(tzinfo=accepted.tzinfo) == accepted.replace(
            microsecond=accepted.microsecond // 1000 * 1000
        )
        assert rows[0]["viewed_at"] is None

        # Reading again writes nothing new.
        client.get("/api/v1/patients/me/education", headers=factory.headers(patient))
        assert mongo.education_progress.count_documents({}) == 2

        team_view = client.get(
            f"/api/v1/patients/{patient.pk}/education", headers=factory.headers(provider)
        )
        assert [r["status"] for r in team_view.get_json()] == ["new", "new"]

    def test_others_get_404(self, client, factory, library):
        patient, provider = factory.patient(), factory.provider()
        assign(factory, patient, provider, T2D_ITEMS)
        for outsider in (factory.provider(), factory.patient()):
            headers = factory.headers(outsider)
            url = f"/api/v1/patients/{patient.pk}/education"
            assert_problem(client.get(url, headers=headers), 404)
            progress = client.post(
                f"{url}/{T2D_ITEMS[0]}/progress", json={"status": "viewed"}, headers=headers
            )
            assert_problem(progress, 404)

    def test_patient_records_progress_forward_only(self, client, factory, library, mongo):
        patient, provider = factory.patient(), factory.provider()
        assign(factory, patient, provider, T2D_ITEMS)
        headers = factory.headers(patient)
        url = f"/api/v1/patients/me/education/{T2D_ITEMS[1]}/progress"

        viewed = client.post(url, json={"status": "viewed"}, headers=headers)
        assert viewed.status_code == 200
        assert viewed.get_json()["status"] == "viewed"
        first_view = viewed.get_json()["viewed_at"]

        completed = client.post(url, json={"status": "completed"}, headers=headers).get_json()
        assert completed["status"] == "completed"
        assert completed["viewed_at"] == first_view and completed["completed_at"]

        again = client.post(url, json={"status": "viewed"}, headers=headers).get_json()
        assert again == completed
        stored = mongo.education_progress.find({"patient": patient.pk, "item": T2D_ITEMS[1]})
        stored = list(stored)
        assert len(stored) == 1 and stored[0]["status"] == "completed"
        assert stored[0]["recorded_by"] == patient.pk

        listed = client.get("/api/v1/patients/me/education", headers=headers).get_json()
        assert {r["item_id"]: r["status"] for r in listed} == {
            T2D_ITEMS[0]: "new",
            T2D_ITEMS[1]: "completed",
        }

    def test_caregiver_with_log_records_progress_view_only_gets_403(
        self, client, factory, library, mongo
    ):
        child, provider = factory.patient(), factory.provider()
        assign(factory, child, provider, T2D_ITEMS)
        parent, grandparent = factory.patient(), factory.patient()
        grant(child, parent, ["view", "log"])
        grant(child, grandparent, ["view"])
        url = f"/api/v1/patients/{child.pk}/education"

        viewer = factory.headers(grandparent)
        assert client.get(url, headers=viewer).status_code == 200
        refused = client.post(
            f"{url}/{T2D_ITEMS[0]}/progress", json={"status": "viewed"}, headers=viewer
        )
        assert_problem(refused, 403)
        assert mongo.education_progress.count_documents({"viewed_at": {"$exists": True}}) == 0

        logged = client.post(
            f"{url}/{T2D_ITEMS[0]}/progress",
            json={"status": "completed"},
            headers=factory.headers(parent),
        )
        assert logged.status_code == 200 and logged.get_json()["status"] == "completed"
        stored = mongo.education_progress.find_one({"patient": child.pk, "item": T2D_ITEMS[0]})
        assert stored["recorded_by"] == parent.pk

    def test_the_team_reads_progress_but_does_not_record_it(self, client, factory, library, mongo):
        patient, provider = factory.patient(), factory.provider()
        factory.membership(patient, provider)
        assign(factory, patient, provider, T2D_ITEMS)
        response = client.post(
            f"/api/v1/patients/{patient.pk}/education/{T2D_ITEMS[0]}/progress",
            json={"status": "completed"},
            headers=factory.headers(provider),
        )
        assert_problem(response, 403)
        assert mongo.education_progress.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("item_id", "payload", "status", "field"),
        [
            ("asthma-what-is-asthma", {"status": "viewed"}, 404, None),
            ("no-such-item", {"status": "viewed"}, 404, None),
            (T2D_ITEMS[0], {"status": "new"}, 422, "status"),
            (T2D_ITEMS[0], {"status": 1}, 422, "status"),
            (T2D_ITEMS[0], {}, 422, "status"),
            (T2D_ITEMS[0], {"status": "viewed", "when": "now"}, 422, "when"),
        ],
    )
    def test_bad_progress_is_refused_and_stores_nothing(
        self, client, factory, library, mongo, item_id, payload, status, field
    ):
        patient, provider = factory.patient(), factory.provider()
        assign(factory, patient, provider, T2D_ITEMS)
        response = client.post(
            f"/api/v1/patients/me/education/{item_id}/progress",
            json=payload,
            headers=factory.headers(patient),
        )
        body = assert_problem(response, status)
        if field:
            assert field in body["errors"]
        assert mongo.education_progress.count_documents({}) == 0

    def test_revoked_agreements_no_longer_assign(self, client, factory, library):
        patient, provider = factory.patient(), factory.provider()
        assign(factory, patient, provider, T2D_ITEMS, status="revoked")
        headers = factory.headers(patient)
        assert client.get("/api/v1/patients/me/education", headers=headers).get_json() == []
        response = client.post(
            f"/api/v1/patients/me/education/{T2D_ITEMS[0]}/progress",
            json={"status": "viewed"},
            headers=headers,
        )
        assert_problem(response, 404)


class TestStaleAssignments:
    def test_new_items_are_stale_seven_days_after_assignment(self, client, factory, library):
        now = utcnow()
        patient, recent, provider = factory.patient(), factory.patient(), factory.provider()
        assign(factory, patient, provider, T2D_ITEMS)  # accepted 400 days ago
        agreement = assign(factory, recent, provider, ["bp-measuring-at-home"])
        Agreement.objects(pk=agreement.pk).update(set__accepted_at=now - timedelta(days=2))

        stale = education.stale_assignments(now)
        assert sorted((p, i.pk) for p, i in stale) == sorted((patient.pk, i) for i in T2D_ITEMS)

        client.post(
            f"/api/v1/patients/me/education/{T2D_ITEMS[0]}/progress",
            json={"status": "viewed"},
            headers=factory.headers(patient),
        )
        later = education.stale_assignments(now + timedelta(days=6))
        assert sorted((p, i.pk) for p, i in later) == [
            (patient.pk, T2D_ITEMS[1]),
            (recent.pk, "bp-measuring-at-home"),
        ]

    def test_first_sight_by_the_job_fixes_the_assignment_time(self, factory, library, mongo):
        now = utcnow()
        patient, provider = factory.patient(), factory.provider()
        agreement = assign(factory, patient, provider, ["asthma-what-is-asthma"])
        # An acceptance time the job could not have seen (clock skew) is capped at first sight.
        Agreement.objects(pk=agreement.pk).update(set__accepted_at=now + timedelta(days=1))
        assert education.stale_assignments(now) == []
        stored = mongo.education_progress.find_one({"patient": patient.pk})
        assert stored["status"] == "new"
        assert abs(stored["assigned_at"].timestamp() - now.timestamp()) < 1
        assert len(education.stale_assignments(now + timedelta(days=7))) == 1


class TestProviderRanking:
    def test_items_for_conditions_on_my_panel_come_first(self, client, factory, library):
        provider = factory.provider(specialty="pulmonology")
        patient, former = factory.patient(), factory.patient()
        factory.membership(patient, provider)
        factory.membership(former, provider, status="ended")
        factory.agreement(patient, provider, conditions=["Asthma"])
        factory.agreement(patient, provider, conditions=["hypertension"], status="draft")
        factory.agreement(former, provider, conditions=["type 2 diabetes"])

        response = client.get(
            f"{LIBRARY}?audience=provider&page_size=100", headers=factory.headers(provider)
        )
        items = response.get_json()
        assert items[0]["id"] == "prov-asthma-annual-review"
        assert items[0]["matches_panel"] is True
        assert all(i["matches_panel"] is False for i in items[1:])
        rest = [i["title"] for i in items[1:]]
        assert rest == sorted(rest)

        second_page = client.get(
            f"{LIBRARY}?audience=provider&page=2&page_size=1", headers=factory.headers(provider)
        )
        assert second_page.get_json() == items[1:2]

    def test_without_a_panel_or_for_patients_it_is_by_title(self, client, factory, library):
        for user in (factory.provider(), factory.patient()):
            items = client.get(
                f"{LIBRARY}?audience=provider", headers=factory.headers(user)
            ).get_json()
            titles = [i["title"] for i in items]
            assert titles == sorted(titles)
            assert all(i.get("matches_panel") in (None, False) for i in items)
