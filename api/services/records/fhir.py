"""Our documents as FHIR R4 resources (JSON dicts), one pure function per resource type.

A resource's id is our record's own id (`resource_id`), the same in the export and in the
FHIR API (`api.fhir`), so the API can read a record back by it; references are relative
(`Patient/<id>`). Each resource also carries our id as an `identifier`.
Quantities use UCUM; measures with a standard code use LOINC (the measures registry).
Nothing here reads the database: `api.services.records.export` gathers the documents.
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
_CAREPLAN_STATUS = {
    "draft": ("draft", "proposal"),
    "proposed": ("draft", "proposal"),
    "active": ("active", "plan"),
    "completed": ("completed", "plan"),
    "revoked": ("revoked", "plan"),
}
_GOAL_STATUS = {
    "draft": "proposed",
    "proposed": "proposed",
    "active": "active",
    "completed": "completed",
    "revoked": "cancelled",
}
_RELATIONSHIPS = {"parent": "PRN", "guardian": "GUARD", "spouse": "SPS"}


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


def _timing(interval_text: str) -> dict:
    """An ISO 8601 interval as a Timing repeat; mixed ones (P1Y6M) in their smallest unit."""
    interval = parse_interval(interval_text)
    if interval.days:
        period, unit = interval.approximate_days, "d"
    elif interval.months:
        period, unit = interval.years * 12 + interval.months, "mo"
    else:
        period, unit = interval.years, "a"
    return {"repeat": {"frequency": 1, "period": period, "periodUnit": unit}}


def _drop_empty(resource: dict) -> dict:
    """FHIR forbids empty values: leave out None, empty strings, lists and objects."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


# --- people --------------------------------------------------------------------------------


def patient(user) -> dict:
    resource = {
        "resourceType": "Patient",
        "id": resource_id(user.pk),
        "identifier": identifier("patient", user.pk),
        "active": True,
        "name": [{"text": user.name}],
        "telecom": [{"system": "email", "value": user.email}] if user.email else None,
        "birthDate": day(user.birth_date),
    }
    return _drop_empty(resource)


def practitioner(user) -> dict:
    resource = {
        "resourceType": "Practitioner",
        "id": resource_id(user.pk),
        "identifier": identifier("user", user.pk),
        "active": True,
        "name": [{"text": user.name}],
        "qualification": [{"code": {"text": user.specialty}}] if user.specialty else None,
    }
    return _drop_empty(resource)


def related_person(grant, caregiver, patient_id) -> dict:
    """An active caregiver: who, how related, since when and (if set) until when. The id is
    the grant's: one person may be a caregiver of several patients."""
    relationship = {"text": grant.relationship}
    if grant.relationship in _RELATIONSHIPS:
        code = _RELATIONSHIPS[grant.relationship]
        relationship["coding"] = [{"system": ROLE_CODE, "code": code}]
    resource = {
        "resourceType": "RelatedPerson",
        "id": resource_id(grant.pk),
        "identifier": identifier("user", caregiver.pk),
        "active": True,
        "patient": patient_ref(patient_id),
        "relationship": [relationship],
        "name": [{"text": caregiver.name}],
        "period": _drop_empty({"start": instant(grant.activated_at), "end": day(grant.expires_on)}),
    }
    return _drop_empty(resource)


def care_team(patient_id, members: list, specialties: dict) -> dict:
    """The active and past members; `specialties` maps provider id → specialty."""
    participants = []
    for member in members:
        roles = [{"text": member.role}]
        if specialties.get(member.provider):
            roles.append({"text": specialties[member.provider]})
        period = _drop_empty(
            {"start": instant(member.activated_at), "end": instant(member.ended_at)}
        )
        participants.append(
            _drop_empty(
                {
                    "role": roles,
                    "member": reference("Practitioner", member.provider),
                    "period": period,
                }
            )
        )
    resource = {
        "resourceType": "CareTeam",
        "id": resource_id(patient_id),
        "status": "active",
        "name": "Care team",
        "subject": patient_ref(patient_id),
        "participant": participants,
    }
    return _drop_empty(resource)


# --- the plan ------------------------------------------------------------------------------


def _target(goal) -> tuple[dict, str | None]:
    """The target as a range in the goal's unit, and what a summed target is counted over."""
    measure = measures.MEASURES.get(goal.measure)
    target, unit = goal.target, goal.unit
    if target.op == "between":
        detail = {"low": quantity(target.low, unit), "high": quantity(target.high, unit)}
    elif target.op == "at_least":
        detail = {"low": quantity(target.value, unit)}
    else:
        detail = {"high": quantity(target.value, unit)}
    # A summed target (30 minutes) is per day or week; a reading's range holds for each one.
    summed = measure is not None and measure.combine in (
        measures.COMBINE_SUM,
        measures.COMBINE_COUNT,
    )
    per = ("a day" if goal.period == "day" else "a week") if summed else None
    return {"measure": measure_concept(goal.measure), "detailRange": detail}, per


def goal(agreement, item) -> dict:
    """One goal of an agreement, with its target as a range in the goal's unit."""
    target, per = _target(item)
    resource = {
        "resourceType": "Goal",
        "id": goal_id(agreement.pk, item.id),
        "identifier": identifier("goal", item.id),
        "lifecycleStatus": _GOAL_STATUS[agreement.status],
        "category": [{"text": item.kind}],
        "description": {"text": item.title},
        "subject": patient_ref(agreement.patient),
        "startDate": day(agreement.content.start_on),
        "target": [target],
        "note": [{"text": f"Counted {per}."}] if per else None,
    }
    return _drop_empty(resource)


def care_plan(agreement, completions: list) -> dict:
    """An agreement: goals referenced, check-ups as activities with the completions done
    under it as their outcomes."""
    status, intent = _CAREPLAN_STATUS[agreement.status]
    content = agreement.content
    activities = []
    for checkup in content.checkups:
        outcomes = [
            reference("Procedure", done.pk)
            for done in completions
            if done.agreement == agreement.pk and done.checkup_id == checkup.id
        ]
        detail = {
            "kind": "ServiceRequest",
            "code": checkup_concept(checkup.name, checkup.code),
            "status": "scheduled" if agreement.status == "active" else "not-started",
            "scheduledTiming": _timing(checkup.interval),
            "description": f"{checkup.name}, every {checkup.interval}",
        }
        activities.append(_drop_empty({"outcomeReference": outcomes, "detail": detail}))
    conditions = ", ".join(content.conditions)
    resource = {
        "resourceType": "CarePlan",
        "id": resource_id(agreement.pk),
        "identifier": identifier("agreement", agreement.pk),
        "status": status,
        "intent": intent,
        "title": content.title,
        "description": f"Conditions: {conditions}." if conditions else None,
        "subject": patient_ref(agreement.patient),
        "period": _drop_empty({"start": day(content.start_on)}),
        "created": instant(agreement.created_at),
        "author": reference("Practitioner", agreement.author),
        "careTeam": [reference("CareTeam", agreement.patient)],
        "goal": [reference("Goal", goal_id(agreement.pk, g.id)) for g in content.goals],
        "activity": activities,
    }
    return _drop_empty(resource)


# --- what happened -------------------------------------------------------------------------


def observation(entry: dict, performers: dict) -> dict:
    """One live log entry (a raw document with its `_id`), its value as the patient entered it.

    `performers` maps an account id to its reference, for entries someone else recorded.
    """
    measure_name = entry["measure"]
    unit = entry.get("entered_unit")
    value = entry.get("entered_value")
    if value is None or unit is None:
        unit, value = measures.get(measure_name).canonical_unit, entry["value"]
    patient_id = entry["patient"]
    category = category_of(measure_name)
    recorded_by = entry.get("recorded_by")
    performer = performers.get(recorded_by) if recorded_by else patient_ref(patient_id)
    interpretation = None
    if entry.get("in_target") is not None:
        code = "N" if entry["in_target"] else "A"
        interpretation = [{"coding": [{"system": INTERPRETATION, "code": code}]}]
    resource = {
        "resourceType": "Observation",
        "id": resource_id(entry["_id"]),
        "identifier": identifier("log-entry", entry["uid"]),
        "basedOn": [reference("CarePlan", entry["agreement"])] if entry.get("agreement") else None,
        "status": "amended" if entry.get("history") else "final",
        "category": (
            [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}] if category else None
        ),
        "code": measure_concept(measure_name),
        "subject": patient_ref(patient_id),
        "effectiveDateTime": instant(entry["occurred_at"]),
        "issued": instant(entry.get("created_at")),
        "performer": [performer] if performer else None,
        "valueQuantity": quantity(value, unit),
        "interpretation": interpretation,
        "note": [{"text": entry["note"]}] if entry.get("note") else None,
    }
    return _drop_empty(resource)


def procedure(completion, performer: dict | None) -> dict:
    """A check-up done: what, when, by whom, with what result."""
    resource = {
        "resourceType": "Procedure",
        "id": resource_id(completion.pk),
        "identifier": identifier("checkup-completion", completion.pk),
        "basedOn": [reference("CarePlan", completion.agreement)],
        "status": "completed",
        "code": checkup_concept(completion.name, completion.code),
        "subject": patient_ref(completion.patient),
        "performedDateTime": day(completion.done_on),
        "performer": [{"actor": performer}] if performer else None,
        "outcome": {"text": completion.result} if completion.result else None,
        "note": [{"text": completion.note}] if completion.note else None,
    }
    return _drop_empty(resource)


def medication_statement(medication, informant) -> dict:
    """A medication on the list, active or stopped, with dose, route and frequency."""
    concept = {"text": medication.name}
    if medication.atc_code:
        concept["coding"] = [
            _drop_empty(
                {"system": ATC, "code": medication.atc_code, "display": medication.ingredient}
            )
        ]
    dosage = {
        "text": f"{medication.dose}, {medication.frequency}",
        "route": {"text": medication.route},
    }
    resource = {
        "resourceType": "MedicationStatement",
        "id": resource_id(medication.pk),
        "identifier": identifier("medication", medication.pk),
        "status": "active" if medication.status == "active" else "stopped",
        "statusReason": [{"text": medication.stop_reason}] if medication.stop_reason else None,
        "medicationCodeableConcept": concept,
        "subject": patient_ref(medication.patient),
        "effectivePeriod": _drop_empty(
            {"start": day(medication.start_on), "end": day(medication.stop_on)}
        ),
        "dateAsserted": instant(medication.created_at),
        "informationSource": informant,
        "reasonCode": [{"text": medication.reason}] if medication.reason else None,
        "dosage": [dosage],
    }
    return _drop_empty(resource)


def flag(alert, description: str) -> dict:
    """An alert: active until resolved (open or acknowledged), then inactive."""
    resolved = alert.status == "resolved"
    resource = {
        "resourceType": "Flag",
        "id": resource_id(alert.pk),
        "identifier": identifier("alert", alert.pk),
        "status": "inactive" if resolved else "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical"}]}],
        "code": {"text": description},
        "subject": patient_ref(alert.patient),
        "period": _drop_empty(
            {"start": instant(alert.opened_at), "end": instant(alert.resolved_at)}
        ),
    }
    return _drop_empty(resource)
