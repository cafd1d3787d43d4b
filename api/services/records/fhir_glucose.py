"""CGM data as FHIR R4 Observations, coded as HL7's Continuous Glucose Monitoring
implementation guide (hl7.fhir.uv.cgm, STU 1) codes them with LOINC.

- `summary_observations`: the metrics of a reporting period (GET .../glucose) as the IG's
  CGM summary: a panel (107931-8) whose members are the mean glucose (97507-8 in mg/dL or
  105273-7 in mmol/L), GMI (97506-0), CV (104638-2), days of wear (104636-6), sensor active
  percentage (104637-4) and the times-in-ranges panel (106793-3) with its five components:
  very low (104642-4), low (104641-6), in range (97510-2), high (104640-8), very high
  (104639-0), each in %.
- `reading_observation`: one sensor reading as an interstitial glucose Observation
  (99504-3, mg/dL), effective at the reading's instant.
Pure functions: nothing here reads the database. Ids are stable (the patient, the period
and the code; the patient and the reading's instant), so an export made twice names the
same resources.
"""

from api.services.records.fhir_values import (
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
    identifier,
    instant,
    patient_ref,
)

SUMMARY_PANEL = ("107931-8", "Continuous glucose monitoring summary panel - Reporting Period")
TIMES_IN_RANGES = ("106793-3", "Continuous glucose monitoring time in ranges panel")
MEAN_MASS = ("97507-8", "Average glucose [Mass/volume] in Interstitial fluid")
MEAN_MOLAR = ("105273-7", "Glucose [Moles/volume] mean in Interstitial fluid")
GMI = ("97506-0", "Glucose management indicator")
CV = ("104638-2", "Coefficient of variation of glucose by Continuous glucose monitoring")
DAYS_OF_WEAR = ("104636-6", "Continuous glucose monitoring duration of use")
SENSOR_ACTIVE = ("104637-4", "Continuous glucose monitoring sensor wear time active")
RANGE_CODES = {
    "very_low": ("104642-4", "Time below range, very low (< 54 mg/dL)"),
    "low": ("104641-6", "Time below range, low (54-69 mg/dL)"),
    "in_range": ("97510-2", "Time in range (70-180 mg/dL)"),
    "high": ("104640-8", "Time above range, high (181-250 mg/dL)"),
    "very_high": ("104639-0", "Time above range, very high (> 250 mg/dL)"),
}
SENSOR_READING = ("99504-3", "Glucose [Mass/volume] in Interstitial fluid")
UNIT_CODES = {"mg/dL": "mg/dL", "mmol/L": "mmol/L", "%": "%", "d": "d"}


def _concept(code: tuple[str, str]) -> dict:
    return {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}], "text": code[1]}


def _quantity(value: float, unit: str) -> dict:
    return {"value": round(value, 2), "unit": unit, "system": UCUM, "code": UNIT_CODES[unit]}


_LABORATORY = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}]


def _base(resource_id: str, code: tuple[str, str], patient_id, period: dict) -> dict:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": _LABORATORY,
        "code": _concept(code),
        "subject": patient_ref(patient_id),
        "effectivePeriod": period,
    }


def summary_id(patient_id, report: dict, code: str) -> str:
    return f"cgm-{patient_id}-{report['from']}-{report['to']}-{code}"


def summary_observations(patient_id, report: dict, *, issued=None) -> list[dict]:
    """The CGM summary of one reporting period (a glucose_metrics report): the panel first,
    then its members. Metrics the period lacks (no readings) are left out; the panel and the
    wear figures are always there, so "no data" is said, not hidden."""
    period = {"start": report["from"].isoformat(), "end": report["to"].isoformat()}

    def member(code: tuple[str, str], value: float | None, unit: str) -> dict | None:
        if value is None:
            return None
        resource = _base(summary_id(patient_id, report, code[0]), code, patient_id, period)
        resource["valueQuantity"] = _quantity(value, unit)
        return resource

    molar = report["unit"] == "mmol/L"
    ranges = _base(
        summary_id(patient_id, report, TIMES_IN_RANGES[0]), TIMES_IN_RANGES, patient_id, period
    )
    ranges["component"] = [
        {"code": _concept(RANGE_CODES[name]), "valueQuantity": _quantity(value, "%")}
        for name, value in report["time_in_ranges"].items()
        if value is not None
    ]
    members = [
        member(MEAN_MOLAR if molar else MEAN_MASS, report["mean"], report["unit"]),
        member(GMI, report["gmi_percent"], "%"),
        member(CV, report["cv_percent"], "%"),
        member(DAYS_OF_WEAR, (report["to"] - report["from"]).days + 1, "d"),
        member(SENSOR_ACTIVE, report["wear_percent"], "%"),
        ranges if ranges["component"] else None,
    ]
    members = [m for m in members if m is not None]
    panel = _base(
        summary_id(patient_id, report, SUMMARY_PANEL[0]), SUMMARY_PANEL, patient_id, period
    )
    panel["hasMember"] = [{"reference": f"Observation/{m['id']}"} for m in members]
    if issued is not None:
        for resource in (panel, *members):
            resource["issued"] = instant(issued)
    return [panel, *members]


def reading_id(patient_id, date_ms: int) -> str:
    return f"cgm-{patient_id}-{date_ms}"


def reading_observation(patient_id, entry: dict) -> dict:
    """One sensor reading (as `glucose_entries.present` shows it) as an Observation."""
    resource = {
        "resourceType": "Observation",
        # The patient and the instant: the FHIR API reads the reading back by its id.
        "id": reading_id(patient_id, entry["date"]),
        "identifier": identifier("cgm-reading", entry["_id"]),
        "status": "final",
        "category": _LABORATORY,
        "code": _concept(SENSOR_READING),
        "subject": patient_ref(patient_id),
        "effectiveDateTime": entry["dateString"],
        "valueQuantity": _quantity(entry["sgv"], "mg/dL"),
    }
    if entry.get("device"):
        resource["device"] = {"display": entry["device"]}
    return resource
