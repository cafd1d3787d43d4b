"""Our documents as FHIR R4 resources (JSON dicts), one pure function per resource type.

A resource's id is our record's own id (`resource_id`), the same in the export and in the
FHIR API (`api.fhir`), so the API can read a record back by it; references are relative
(`Patient/<id>`). Each resource also carries our id as an `identifier`.
Quantities use UCUM; measures with a standard code use LOINC (the measures registry).
Nothing here reads the database: `api.services.records.export` gathers the documents.
"""

from api.services.records.fhir_values import (
    ATC,
    CAREPLAN_STATUS,
    FLAG_CATEGORY,
    GOAL_STATUS,
    INTERPRETATION,
    OBSERVATION_CATEGORY,
    RELATIONSHIPS,
    ROLE_CODE,
    category_of,
    checkup_concept,
    day,
    drop_empty,
    goal_id,
    identifier,
    instant,
    measure_concept,
    patient_ref,
    quantity,
    reference,
    resource_id,
    timing,
)
from api.services.tracking import measures

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
    return drop_empty(resource)


def practitioner(user) -> dict:
    resource = {
        "resourceType": "Practitioner",
        "id": resource_id(user.pk),
        "identifier": identifier("user", user.pk),
        "active": True,
        "name": [{"text": user.name}],
        "qualification": [{"code": {"text": user.specialty}}] if user.specialty else None,
    }
    return drop_empty(resource)


def related_person(grant, caregiver, patient_id) -> dict:
    """An active caregiver: who, how related, since when and (if set) until when. The id is
    the grant's: one person may be a caregiver of several patients."""
    relationship = {"text": grant.relationship}
    if grant.relationship in RELATIONSHIPS:
        code = RELATIONSHIPS[grant.relationship]
        relationship["coding"] = [{"system": ROLE_CODE, "code": code}]
    resource = {
        "resourceType": "RelatedPerson",
        "id": resource_id(grant.pk),
        "identifier": identifier("user", caregiver.pk),
        "active": True,
        "patient": patient_ref(patient_id),
        "relationship": [relationship],
        "name": [{"text": caregiver.name}],
        "period": drop_empty({"start": instant(grant.activated_at), "end": day(grant.expires_on)}),
    }
    return drop_empty(resource)


def care_team(patient_id, members: list, specialties: dict) -> dict:
    """The active and past members; `specialties` maps provider id → specialty."""
    participants = []
    for member in members:
        roles = [{"text": member.role}]
        if specialties.get(member.provider):
            roles.append({"text": specialties[member.provider]})
        period = drop_empty(
            {"start": instant(member.activated_at), "end": instant(member.ended_at)}
        )
        participants.append(
            drop_empty(
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
    return drop_empty(resource)


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
        "lifecycleStatus": GOAL_STATUS[agreement.status],
        "category": [{"text": item.kind}],
        "description": {"text": item.title},
        "subject": patient_ref(agreement.patient),
        "startDate": day(agreement.content.start_on),
        "target": [target],
        "note": [{"text": f"Counted {per}."}] if per else None,
    }
    return drop_empty(resource)


def care_plan(agreement, completions: list) -> dict:
    """An agreement: goals referenced, check-ups as activities with the completions done
    under it as their outcomes."""
    status, intent = CAREPLAN_STATUS[agreement.status]
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
            "scheduledTiming": timing(checkup.interval),
            "description": f"{checkup.name}, every {checkup.interval}",
        }
        activities.append(drop_empty({"outcomeReference": outcomes, "detail": detail}))
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
        "period": drop_empty({"start": day(content.start_on)}),
        "created": instant(agreement.created_at),
        "author": reference("Practitioner", agreement.author),
        "careTeam": [reference("CareTeam", agreement.patient)],
        "goal": [reference("Goal", goal_id(agreement.pk, g.id)) for g in content.goals],
        "activity": activities,
    }
    return drop_empty(resource)


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
    return drop_empty(resource)


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
    return drop_empty(resource)


def medication_statement(medication, informant) -> dict:
    """A medication on the list, active or stopped, with dose, route and frequency."""
    concept = {"text": medication.name}
    if medication.atc_code:
        concept["coding"] = [
            drop_empty(
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
        "effectivePeriod": drop_empty(
            {"start": day(medication.start_on), "end": day(medication.stop_on)}
        ),
        "dateAsserted": instant(medication.created_at),
        "informationSource": informant,
        "reasonCode": [{"text": medication.reason}] if medication.reason else None,
        "dosage": [dosage],
    }
    return drop_empty(resource)


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
        "period": drop_empty(
            {"start": instant(alert.opened_at), "end": instant(alert.resolved_at)}
        ),
    }
    return drop_empty(resource)
