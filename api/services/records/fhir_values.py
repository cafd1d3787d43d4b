"""FHIR R4 building blocks: code systems, ids and references, instants, quantities, concepts.

Shared by the resource builders (`fhir`) and the FHIR API; pure functions, no database.
"""

import hashlib
import re
from datetime import UTC, date, datetime

from api.services.common.intervals import parse_interval
from api.services.tracking import measures

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
# Our own identifier systems: `<IDENTIFIER_BASE><kind>` (patient, user, log-entry, ...).
IDENTIFIER_BASE = "urn:carepact:"
_LOINC_CODE = re.compile(r"^\d{1,7}-\d$")

# Our units → UCUM. Counted things are UCUM annotations ({steps}).
UCUM_UNITS = {
    "mg/dL": "mg/dL",
    "mmol/L": "mmol/L",
    "kg": "kg",
    "lb": "[lb_av]",
    "min": "min",
    "h": "h",
    "steps": "{steps}",
    "kcal": "kcal",
    "kJ": "kJ",
    "g": "g",
    "mg": "mg",
    "mmHg": "mm[Hg]",
    "L/min": "L/min",
    "dose": "{dose}",
    "times": "{times}",
}
_CATEGORIES = {
    "blood_glucose": "laboratory",
    "weight": "vital-signs",
    "blood_pressure_systolic": "vital-signs",
    "peak_flow": "vital-signs",
    "exercise_minutes": "activity",
    "steps": "activity",
}
CAREPLAN_STATUS = {
    "draft": ("draft", "proposal"),
    "proposed": ("draft", "proposal"),
    "active": ("active", "plan"),
    "completed": ("completed", "plan"),
    "revoked": ("revoked", "plan"),
}
GOAL_STATUS = {
    "draft": "proposed",
    "proposed": "proposed",
    "active": "active",
    "completed": "completed",
    "revoked": "cancelled",
}
RELATIONSHIPS = {"parent": "PRN", "guardian": "GUARD", "spouse": "SPS"}


# --- ids, references and values -----------------------------------------------------------


def resource_id(record_id) -> str:
    return str(record_id)


def goal_id(agreement_id, item_id: str) -> str:
    """A goal lives inside its agreement; its item id may hold any character, and FHIR ids
    only [A-Za-z0-9-.], so the id is the agreement's and a digest of the item's."""
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:16]
    return f"{agreement_id}-{digest}"


def full_url(resource: dict, base: str) -> str:
    return f"{base}/{resource['resourceType']}/{resource['id']}"


def reference(kind: str, record_id) -> dict:
    return {"reference": f"{kind}/{record_id}"}


def patient_ref(patient_id) -> dict:
    return reference("Patient", patient_id)


def identifier(kind: str, value) -> list[dict]:
    return [{"system": f"{IDENTIFIER_BASE}{kind}", "value": str(value)}]


def instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def quantity(value: float, unit: str) -> dict:
    return {
        "value": round(value, 4),
        "unit": unit,
        "system": UCUM,
        "code": UCUM_UNITS.get(unit, f"{{{unit}}}"),
    }


def category_of(measure_name: str) -> str | None:
    """The Observation category code (observation-category) of a measure's readings."""
    return _CATEGORIES.get(measure_name)


def measure_concept(measure_name: str) -> dict:
    measure = measures.MEASURES.get(measure_name)
    display = measure.display if measure else measure_name
    if measure is not None and measure.loinc:
        coding = {"system": LOINC, "code": measure.loinc, "display": display}
    else:
        coding = {"system": f"{IDENTIFIER_BASE}measure", "code": measure_name}
    return {"coding": [coding], "text": display}


def checkup_concept(name: str, code: str | None) -> dict:
    concept = {"text": name}
    if code:
        system = LOINC if _LOINC_CODE.match(code) else f"{IDENTIFIER_BASE}checkup-code"
        concept["coding"] = [{"system": system, "code": code, "display": name}]
    return concept


def timing(interval_text: str) -> dict:
    """An ISO 8601 interval as a Timing repeat; mixed ones (P1Y6M) in their smallest unit."""
    interval = parse_interval(interval_text)
    if interval.days:
        period, unit = interval.approximate_days, "d"
    elif interval.months:
        period, unit = interval.years * 12 + interval.months, "mo"
    else:
        period, unit = interval.years, "a"
    return {"repeat": {"frequency": 1, "period": period, "periodUnit": unit}}


def drop_empty(resource: dict) -> dict:
    """FHIR forbids empty values: leave out None, empty strings, lists and objects."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}
