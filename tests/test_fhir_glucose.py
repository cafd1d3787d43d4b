"""CGM data as FHIR R4 Observations with the LOINC codes of HL7's CGM implementation guide,
checked against the R4 JSON schema."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.services.records import fhir_glucose
from api.services.tracking import cgm_traces, glucose, glucose_entries, glucose_metrics
from tests.fhir_schema import validate

TZ = "Europe/Madrid"


def test_fourteen_day_summary_and_readings(app, factory):
    patient = factory.patient(timezone=TZ)
    first = date(2026, 2, 1)
    trace = cgm_traces.trace(first, 14, tz=TZ, seed=5)
    glucose.store(
        patient.pk, [glucose.Reading("sgv", e["date"], value=e["sgv"]) for e in trace], tz=TZ
    )
    end = datetime.combine(first + timedelta(days=14), datetime.min.time(), tzinfo=ZoneInfo(TZ))
    report = glucose_metrics.report(
        patient.pk, days=14, tz=TZ, unit=None, now=end - timedelta(microseconds=1)
    )
    observations = fhir_glucose.summary_observations(patient.pk, report, issued=end)
    for resource in observations:
        validate(resource)
    panel, *members = observations
    assert panel["code"]["coding"][0]["code"] == "107931-8"
    assert panel["effectivePeriod"] == {"start": "2026-02-01", "end": "2026-02-14"}
    assert [m["reference"] for m in panel["hasMember"]] == [
        f"Observation/{m['id']}" for m in members
    ]
    by_code = {m["code"]["coding"][0]["code"]: m for m in members}
    assert by_code["97507-8"]["valueQuantity"] == {
        "value": report["mean"],
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert by_code["97506-0"]["valueQuantity"]["value"] == report["gmi_percent"]
    assert by_code["104638-2"]["valueQuantity"]["value"] == report["cv_percent"]
    assert by_code["104637-4"]["valueQuantity"]["value"] == report["wear_percent"]
    assert by_code["104636-6"]["valueQuantity"]["value"] == 14
    ranges = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
        for c in by_code["106793-3"]["component"]
    }
    assert ranges == {
        "104642-4": report["time_in_ranges"]["very_low"],
        "104641-6": report["time_in_ranges"]["low"],
        "97510-2": report["time_in_ranges"]["in_range"],
        "104640-8": report["time_in_ranges"]["high"],
        "104639-0": report["time_in_ranges"]["very_high"],
    }
    assert len({m["id"] for m in observations}) == len(observations)

    entries = glucose_entries.find(
        patient.pk, kinds=("sgv",), window=glucose_entries.Window(), count=3, now=end
    )
    readings = [fhir_glucose.reading_observation(patient.pk, e) for e in entries]
    for resource in readings:
        validate(resource)
    assert readings[0]["code"]["coding"][0]["code"] == "99504-3"
    assert readings[0]["valueQuantity"]["value"] == entries[0]["sgv"]
    assert readings[0]["effectiveDateTime"] == entries[0]["dateString"]


def test_a_period_without_readings_says_so(app, factory):
    patient = factory.patient(timezone=TZ)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    report = glucose_metrics.report(patient.pk, days=14, tz=TZ, unit="mmol/L", now=now)
    observations = fhir_glucose.summary_observations(patient.pk, report)
    for resource in observations:
        validate(resource)
    codes = [o["code"]["coding"][0]["code"] for o in observations]
    assert codes == ["107931-8", "104636-6", "104637-4"]
    assert observations[2]["valueQuantity"]["value"] == 0
