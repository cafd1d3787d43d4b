"""The clinic's population view: aggregates kept current, suppression, CSV, trend, rebuild."""

import csv
import io
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo import ReturnDocument

from api.clock import utcnow
from api.services.clinic import population_rebuild, population_view
from api.services.flows import derived
from api.services.tracking import summary as patient_summary
from tests.agreement_helpers import CHECKUP, plan
from tests.test_foundation import assert_problem

ADMIN_CLINICS = "/api/v1/admin/clinics"
LONG_AGO = (utcnow() - timedelta(days=400)).date().isoformat()


# --- set-up through the API ---------------------------------------------------------------


def make_clinic(client, factory, *providers, name="Northside Family Practice") -> str:
    admin = factory.headers(factory.admin())
    response = client.post(ADMIN_CLINICS, json={"name": name}, headers=admin)
    assert response.status_code == 201, response.get_json()
    cid = response.get_json()["id"]
    for provider in providers:
        placed = client.post(
            f"{ADMIN_CLINICS}/{cid}/providers",
            json={"provider_id": str(provider.pk)},
            headers=admin,
        )
        assert placed.status_code == 201, placed.get_json()
    return cid


def join(client, factory, provider, patient) -> None:
    """The patient redeems the provider's invitation code."""
    code = client.post("/api/v1/invitations", json={}, headers=factory.headers(provider))
    joined = client.post(
        "/api/v1/patients/me/care-team",
        json={"code": code.get_json()["code"]},
        headers=factory.headers(patient),
    )
    assert joined.status_code == 201, joined.get_json()


def activate(client, factory, provider, patient, **content) -> str:
    """An agreement proposed by the provider and accepted by the patient; its id."""
    body = plan(start_on=LONG_AGO, review_on=None, **content)
    base = f"/api/v1/patients/{patient.pk}/agreements"
    created = client.post(base, json=body, headers=factory.headers(provider))
    assert created.status_code == 201, created.get_json()
    aid = created.get_json()["id"]
    proposed = client.post(f"{base}/{aid}/propose", headers=factory.headers(provider))
    assert proposed.status_code == 200, proposed.get_json()
    accepted = client.post(
        f"/api/v1/patients/me/agreements/{aid}/accept", headers=factory.headers(patient)
    )
    assert accepted.status_code == 200, accepted.get_json()
    return aid


def enrol(client, factory, provider, *, conditions=("type 2 diabetes",), checkups=None, **content):
    """A new patient on the provider's panel with an active agreement (HbA1c overdue)."""
    patient = factory.patient()
    join(client, factory, provider, patient)
    activate(
        client,
        factory,
        provider,
        patient,
        conditions=list(conditions),
        checkups=[CHECKUP] if checkups is None else checkups,
        **content,
    )
    return patient


def set_adherence(patient, percent: float | None) -> None:
    """The adherence figure as the summary refresh would write it, then the derived views."""
    after = patient_summary.summaries().find_one_and_update(
        {"_id": patient.pk},
        {"$set": {"adherence_30d": percent}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    derived.summary_moved(patient.pk, after, now=utcnow())


def open_alerts(patient, **by_severity) -> None:
    """Open alerts as the alerts service counts them on the summary, then the derived views."""
    after = patient_summary.move_open_alerts(patient.pk, by_severity)
    derived.summary_moved(patient.pk, after, now=utcnow())


def view(client, factory, provider, cid, **query):
    return client.get(
        f"/api/v1/clinics/{cid}/population", query_string=query, headers=factory.headers(provider)
    )


def normalised(mongo, cid) -> dict:
    """The clinic's aggregate documents without zero counts, and without documents left
    empty (increments leave zeros behind; a rebuild writes only what is there)."""

    def strip(value):
        if isinstance(value, dict):
            kept = {k: strip(v) for k, v in value.items()}
            return {k: v for k, v in kept.items() if v not in (0, {}, None)}
        return value

    docs = {
        doc["_id"]: strip({k: v for k, v in doc.items() if k != "_id"})
        for doc in mongo.population_aggregates.find({"clinic": ObjectId(cid)})
    }
    return {key: doc for key, doc in docs.items() if doc.get("patients")}


@pytest.fixture
def clinic(client, factory):
    provider, colleague = factory.provider(), factory.provider()
    return provider, colleague, make_clinic(client, factory, provider, colleague)


# --- access ---------------------------------------------------------------------------------


class TestAccess:
    def test_a_provider_outside_the_clinic_gets_404(self, client, factory, clinic, mongo):
        provider, _, cid = clinic
        enrol(client, factory, provider)
        outsider = factory.provider()
        make_clinic(client, factory, outsider, name="Southside")
        for query in ({}, {"format": "public"}, {"format": "csv"}):
            assert_problem(view(client, factory, outsider, cid, **query), 404)
        assert_problem(view(client, factory, provider, str(ObjectId())), 404)
        assert_problem(view(client, factory, provider, "not-an-id"), 404)
        assert_problem(view(client, factory, factory.patient(), cid), 403)
        assert view(client, factory, provider, cid).status_code == 200

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ({"format": "xml"}, "format"),
            ({"condition": ""}, "condition"),
            ({"condition": "x" * 81}, "condition"),
            ({"condition": "dragon pox"}, "condition"),
        ],
    )
    def test_bad_queries_are_422(self, client, factory, clinic, query, field):
        provider, _, cid = clinic
        assert field in assert_problem(view(client, factory, provider, cid, **query), 422)["errors"]


# --- the figures ----------------------------------------------------------------------------


class TestFigures:
    def test_counts_gaps_adherence_and_alerts(self, client, factory, clinic, mongo):
        provider, colleague, cid = clinic
        diabetic = [enrol(client, factory, provider) for _ in range(4)]
        both = enrol(client, factory, provider, conditions=("type 2 diabetes", "Hypertension"))
        # Shared by two of the clinic's providers: still one patient.
        join(client, factory, colleague, both)
        hypertensive = enrol(client, factory, colleague, conditions=("hypertension",), checkups=[])
        for patient, percent in zip(diabetic, (10.0, 40.0, 60.0, 90.0), strict=True):
            set_adherence(patient, percent)
        set_adherence(both, 100.0)
        open_alerts(both, urgent=1, warning=2)

        body = view(client, factory, provider, cid).get_json()
        now = body["current"]
        assert body["format"] == "full" and body["condition"] is None
        assert now["patients"] == 6
        assert now["by_condition"] == [
            {"condition": "hypertension", "patients": 2},
            {"condition": "type 2 diabetes", "patients": 5},
        ]
        assert now["care_gaps"] == [
            {"key": "hba1c", "name": "HbA1c", "eligible": 5, "overdue": 5, "share_overdue": 1.0}
        ]
        spread = now["adherence_30d"]
        assert spread["patients"] == 5 and spread["without_data"] == 1
        assert spread["q1"] <= spread["median"] <= spread["q3"]
        assert 55.0 <= spread["median"] <= 65.0
        assert now["open_alerts"] == {"info": 0, "warning": 2, "urgent": 1}
        assert body["month_earlier"] is None
        assert not mongo.population_profiles.find_one({"_id": hypertensive.pk})["gaps"]

        only = view(client, factory, provider, cid, condition="Hypertension").get_json()
        assert only["condition"] == "hypertension"
        assert only["current"]["patients"] == 2
        assert "by_condition" not in only["current"]
        assert only["current"]["open_alerts"]["urgent"] == 1

    def test_a_condition_nobody_has_yet_is_known_from_the_templates(self, client, factory, clinic):
        provider, _, cid = clinic
        response = view(client, factory, provider, cid, condition="asthma")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["current"]["patients"] == 0

    def test_leaving_the_care_team_leaves_the_clinic(self, client, factory, clinic, mongo):
        provider, colleague, cid = clinic
        patient = enrol(client, factory, provider)
        join(client, factory, colleague, patient)
        members = client.get(
            f"/api/v1/patients/{patient.pk}/care-team", headers=factory.headers(patient)
        ).get_json()
        first, second = (m["id"] for m in members)
        url = "/api/v1/patients/me/care-team/"
        assert client.delete(url + first, headers=factory.headers(patient)).status_code == 204
        assert view(client, factory, provider, cid).get_json()["current"]["patients"] == 1
        assert client.delete(url + second, headers=factory.headers(patient)).status_code == 204
        body = view(client, factory, provider, cid).get_json()["current"]
        assert body["patients"] == 0 and body["care_gaps"] == []
        stored = mongo.population_profiles.find_one({"_id": patient.pk})
        assert stored["in_clinics"] == [] and cid not in stored["clinics"]

    def test_closing_a_gap_moves_the_overdue_count(self, client, factory, clinic):
        provider, _, cid = clinic
        patient = enrol(client, factory, provider)
        enrol(client, factory, provider)
        gap = view(client, factory, provider, cid).get_json()["current"]["care_gaps"][0]
        assert (gap["eligible"], gap["overdue"]) == (2, 2)
        checkup = client.get(
            f"/api/v1/patients/{patient.pk}/checkups", headers=factory.headers(provider)
        ).get_json()[0]
        done = client.post(
            f"/api/v1/patients/{patient.pk}/checkups/{checkup['id']}/completions",
            json={"done_on": utcnow().date().isoformat()},
            headers=factory.headers(provider),
        )
        assert done.status_code == 201, done.get_json()
        gap = view(client, factory, provider, cid).get_json()["current"]["care_gaps"][0]
        assert (gap["eligible"], gap["overdue"], gap["share_overdue"]) == (2, 1, 0.5)


# --- outside the clinic ---------------------------------------------------------------------


class TestSuppression:
    def test_counts_under_11_are_suppressed_at_10_11_and_0(self, client, factory, clinic):
        provider, colleague, cid = clinic
        for _ in range(11):
            enrol(client, factory, provider)
        for _ in range(10):
            enrol(client, factory, colleague, conditions=("hypertension",), checkups=[])
        public = view(client, factory, provider, cid, format="public").get_json()
        assert public["format"] == "public"
        now = public["current"]
        assert now["patients"] == 21
        assert now["by_condition"] == [
            {"condition": "hypertension", "patients": "<11"},
            {"condition": "type 2 diabetes", "patients": 11},
        ]
        gap = now["care_gaps"][0]
        assert (gap["eligible"], gap["overdue"], gap["share_overdue"]) == (11, 11, 1.0)
        assert now["open_alerts"] == {"info": "<11", "warning": "<11", "urgent": "<11"}
        assert now["adherence_30d"]["patients"] == "<11"
        assert now["adherence_30d"]["median"] == "suppressed"

        ten = view(client, factory, provider, cid, format="public", condition="hypertension")
        assert ten.get_json()["current"]["patients"] == "<11"
        full = view(client, factory, provider, cid, condition="hypertension").get_json()
        assert full["current"]["patients"] == 10

    def test_a_share_from_a_suppressed_count_is_suppressed(self, client, factory, clinic):
        provider, _, cid = clinic
        patients = [enrol(client, factory, provider) for _ in range(11)]
        checkup = client.get(
            f"/api/v1/patients/{patients[0].pk}/checkups", headers=factory.headers(provider)
        ).get_json()[0]
        client.post(
            f"/api/v1/patients/{patients[0].pk}/checkups/{checkup['id']}/completions",
            json={"done_on": utcnow().date().isoformat()},
            headers=factory.headers(provider),
        )
        gap = view(client, factory, provider, cid, format="public").get_json()["current"][
            "care_gaps"
        ][0]
        assert (gap["eligible"], gap["overdue"], gap["share_overdue"]) == (11, "<11", "suppressed")

    def test_csv_carries_the_public_figures(self, client, factory, clinic):
        provider, _, cid = clinic
        for _ in range(11):
            enrol(client, factory, provider)
        response = view(client, factory, provider, cid, format="csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert rows[0] == {
            "period": "current",
            "as_of": utcnow().date().isoformat(),
            "section": "patients",
            "item": "all",
            "measure": "count",
            "value": "11",
        }
        by = {(r["section"], r["item"], r["measure"]): r["value"] for r in rows}
        assert by[("care_gap", "hba1c", "eligible")] == "11"
        assert by[("open_alerts", "urgent", "count")] == "<11"
        assert by[("adherence_30d", "all", "median")] == "suppressed"


# --- the trend and the rebuild --------------------------------------------------------------


class TestTrendAndRebuild:
    def test_a_month_earlier_is_the_snapshot_of_then(self, client, factory, clinic, mongo):
        provider, _, cid = clinic
        first = enrol(client, factory, provider)
        set_adherence(first, 50.0)
        then = utcnow() - timedelta(days=31)
        assert population_view.take_snapshots(now=then)["snapshots"] == 2
        # A newer snapshot than a month is not "a month earlier".
        population_view.take_snapshots(now=utcnow() - timedelta(days=5))
        enrol(client, factory, provider, conditions=("hypertension",), checkups=[])
        body = view(client, factory, provider, cid).get_json()
        assert body["current"]["patients"] == 2
        earlier = body["month_earlier"]
        assert earlier["as_of"] == then.date().isoformat()
        assert earlier["patients"] == 1
        assert earlier["by_condition"] == [{"condition": "type 2 diabetes", "patients": 1}]
        assert earlier["care_gaps"][0]["overdue"] == 1
        assert mongo.population_snapshots.count_documents({"clinic": ObjectId(cid)}) == 4

    def test_incremental_aggregates_equal_a_rebuild(self, client, factory, clinic, mongo):
        provider, colleague, cid = clinic
        patients = [enrol(client, factory, provider) for _ in range(3)]
        other = enrol(client, factory, colleague, conditions=("hypertension", "asthma"))
        join(client, factory, colleague, patients[0])
        for patient, percent in zip(patients, (12.5, 47.0, 99.0), strict=True):
            set_adherence(patient, percent)
        set_adherence(patients[1], 80.0)
        open_alerts(other, info=1)
        open_alerts(patients[2], urgent=2)
        # A second clinic shares a provider's patients: its figures follow too.
        second = make_clinic(client, factory, colleague, name="Eastside")
        members = client.get(
            f"/api/v1/patients/{patients[0].pk}/care-team", headers=factory.headers(patients[0])
        ).get_json()
        ended = client.delete(
            f"/api/v1/patients/me/care-team/{members[0]['id']}",
            headers=factory.headers(patients[0]),
        )
        assert ended.status_code == 204

        incremental = {c: normalised(mongo, c) for c in (cid, second)}
        shown = view(client, factory, provider, cid).get_json()["current"]
        for c in (cid, second):
            population_rebuild.rebuild(c, now=utcnow())
        assert {c: normalised(mongo, c) for c in (cid, second)} == incremental
        assert view(client, factory, provider, cid).get_json()["current"] == shown
        assert incremental[cid][f"{cid}:*"]["patients"] == 4

    def test_rebuild_repairs_aggregates_that_drifted(self, client, factory, clinic, mongo):
        provider, _, cid = clinic
        enrol(client, factory, provider)
        before = normalised(mongo, cid)
        mongo.population_aggregates.update_many({}, {"$inc": {"patients": 7}})
        assert population_rebuild.rebuild(cid, now=utcnow()) == {"patients": 1, "aggregates": 2}
        assert normalised(mongo, cid) == before
