"""The documents behind the FHIR API, as mapped resources: read one by its id, or gather a
patient's resources of one type (Observations are searched in `fhir_observations`).

Every type but Observation is small per patient (a few agreements, a care team, a medication
list, the thread), so a search gathers them all and the API filters and pages the mapped
resources. Each `Found` carries the patient it belongs to (the access rule decides on it)
and when the record last changed (ETag, Last-Modified).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId

from api.models.agreement import Agreement
from api.models.alert import Alert
from api.models.care_team import CareTeamMember
from api.models.caregiver import Grant
from api.models.checkup import CheckupCompletion
from api.models.log import LIVE
from api.models.medication import Medication
from api.models.message import Message
from api.models.user import User
from api.services.alerts import engine as alerts
from api.services.alerts import verdicts
from api.services.care import checkups
from api.services.common import local_days
from api.services.identity.caregivers import grant_in_force
from api.services.records import fhir, fhir_glucose, fhir_values
from api.services.records.fhir_communication import communication
from api.services.tracking import glucose, glucose_entries, logs


@dataclass
class Found:
    patient_id: ObjectId
    resource: dict
    updated: datetime | None


def object_id(value: str) -> ObjectId | None:
    try:
        return ObjectId(value) if isinstance(value, str) and len(value) == 24 else None
    except InvalidId:
        return None


def performers(patient_id, account_ids, now: datetime) -> dict:
    """Account id → reference for whoever recorded something: the patient, a provider
    (Practitioner), or a caregiver whose grant is in force (RelatedPerson, by grant)."""
    ids = {i for i in account_ids if i is not None and i != patient_id}
    found = {patient_id: fhir_values.patient_ref(patient_id)}
    if not ids:
        return found
    people = {u.pk: u for u in User.objects(pk__in=list(ids)).only("role", "timezone")}
    for uid, user in people.items():
        if user.role == "provider":
            found[uid] = fhir_values.reference("Practitioner", uid)
    caregivers = [uid for uid in ids if uid not in found]
    if caregivers:
        patient = User.objects(pk=patient_id).only("timezone").first()
        today = local_days.today(now, patient.timezone if patient else "UTC")
        for grant in Grant.objects(patient=patient_id, status="active"):
            if grant.caregiver in caregivers and grant_in_force(grant, today):
                found[grant.caregiver] = fhir_values.reference("RelatedPerson", grant.pk)
    return found


# --- one type each: read by id, gather for a patient -----------------------------------


def _patient(user) -> Found:
    return Found(user.pk, fhir.patient(user), user.updated_at)


def _patient_user(patient_id) -> User | None:
    # By _id alone: the embedded server plans a second predicate as a collection scan.
    user = User.objects(pk=patient_id).first() if patient_id else None
    return user if user is not None and user.role == "patient" else None


def read_patient(rid, now):
    user = _patient_user(object_id(rid))
    return _patient(user) if user else None


def gather_patient(patient_id, now):
    user = _patient_user(patient_id)
    return [_patient(user)] if user else []


def _care_plans(agreements, patient_id) -> list[Found]:
    completions = list(checkups.completions_for(patient_id)) if agreements else []
    return [Found(a.patient, fhir.care_plan(a, completions), a.updated_at) for a in agreements]


def read_care_plan(rid, now):
    agreement = Agreement.objects(pk=object_id(rid)).first() if object_id(rid) else None
    return _care_plans([agreement], agreement.patient)[0] if agreement else None


def gather_care_plan(patient_id, now):
    return _care_plans(list(Agreement.objects(patient=patient_id)), patient_id)


def _goals(agreement) -> list[Found]:
    return [
        Found(agreement.patient, fhir.goal(agreement, item), agreement.updated_at)
        for item in agreement.content.goals
    ]


def read_goal(rid, now):
    agreement_id, _, _digest = rid.partition("-")
    oid = object_id(agreement_id)
    agreement = Agreement.objects(pk=oid).first() if oid else None
    if agreement is None:
        return None
    return next((f for f in _goals(agreement) if f.resource["id"] == rid), None)


def gather_goal(patient_id, now):
    return [f for a in Agreement.objects(patient=patient_id) for f in _goals(a)]


def _care_team(patient_id) -> Found:
    members = [
        m for m in CareTeamMember.objects(patient=patient_id) if m.status in ("active", "ended")
    ]
    providers = User.objects(pk__in=[m.provider for m in members]).only("specialty")
    specialties = {p.pk: p.specialty for p in providers}
    updated = max((m.updated_at for m in members), default=None)
    return Found(patient_id, fhir.care_team(patient_id, members, specialties), updated)


def read_care_team(rid, now):
    user = _patient_user(object_id(rid))
    return _care_team(user.pk) if user else None


def gather_care_team(patient_id, now):
    return [_care_team(patient_id)]


def _procedures(completions, patient_id, now) -> list[Found]:
    who = performers(patient_id, [c.recorded_by for c in completions], now)
    return [
        Found(c.patient, fhir.procedure(c, who.get(c.recorded_by)), c.created_at)
        for c in completions
    ]


def read_procedure(rid, now):
    oid = object_id(rid)
    done = CheckupCompletion.objects(pk=oid).first() if oid else None
    return _procedures([done], done.patient, now)[0] if done else None


def gather_procedure(patient_id, now):
    return _procedures(list(checkups.completions_for(patient_id)), patient_id, now)


def _statements(meds, patient_id, now) -> list[Found]:
    sources = {m.pk: m.prescriber or m.reported_by for m in meds}
    who = performers(patient_id, [s.id for s in sources.values() if s is not None], now)
    found = []
    for m in meds:
        informant = who.get(sources[m.pk].id) if sources[m.pk] is not None else None
        found.append(Found(m.patient, fhir.medication_statement(m, informant), m.updated_at))
    return found


def read_medication_statement(rid, now):
    oid = object_id(rid)
    med = Medication.objects(pk=oid).first() if oid else None
    return _statements([med], med.patient, now)[0] if med else None


def gather_medication_statement(patient_id, now):
    return _statements(list(Medication.objects(patient=patient_id)), patient_id, now)


def _flags(found_alerts) -> list[Found]:
    rules = {
        r["_id"]: r
        for r in alerts.rules().find({"_id": {"$in": list({a.rule for a in found_alerts})}})
    }
    flags = []
    for alert in found_alerts:
        rule = rules.get(alert.rule)
        what = verdicts.describe(rule, alert.level) if rule else alert.measure
        resource = fhir.flag(alert, f"{alert.severity.title()} alert: {what}")
        changed = alert.resolved_at or alert.acknowledged_at or alert.opened_at
        flags.append(Found(alert.patient, resource, changed))
    return flags


def read_flag(rid, now):
    oid = object_id(rid)
    alert = Alert.objects(pk=oid).first() if oid else None
    return _flags([alert])[0] if alert else None


def gather_flag(patient_id, now):
    return _flags(list(Alert.objects(patient=patient_id)))


def _related(grants, now) -> list[Found]:
    people = {u.pk: u for u in User.objects(pk__in=[g.caregiver for g in grants]).only("name")}
    found = []
    for grant in grants:
        patient = User.objects(pk=grant.patient).only("timezone").first()
        today = local_days.today(now, patient.timezone if patient else "UTC")
        if grant.caregiver in people and grant_in_force(grant, today):
            resource = fhir.related_person(grant, people[grant.caregiver], grant.patient)
            found.append(Found(grant.patient, resource, grant.updated_at))
    return found


def read_related_person(rid, now):
    oid = object_id(rid)
    grant = Grant.objects(pk=oid).first() if oid else None
    found = _related([grant], now) if grant and grant.status == "active" else []
    return found[0] if found else None


def gather_related_person(patient_id, now):
    return _related(list(Grant.objects(patient=patient_id, status="active")), now)


def _communications(messages, patient_id, now) -> list[Found]:
    who = performers(patient_id, [m.author for m in messages], now)
    return [Found(m.patient, communication(m, who.get(m.author)), m.created_at) for m in messages]


def read_communication(rid, now):
    oid = object_id(rid)
    message = Message.objects(pk=oid).first() if oid else None
    return _communications([message], message.patient, now)[0] if message else None


def gather_communication(patient_id, now):
    return _communications(list(Message.objects(patient=patient_id)), patient_id, now)


def _read_cgm(rid: str, now):
    """`cgm-<patient>-<epoch ms>`: the reading in its hour bucket, if it is there."""
    parts = rid.split("-")
    if len(parts) != 3:
        return None
    _, patient_text, date_text = parts
    patient_id = object_id(patient_text)
    if patient_id is None or not date_text.isdigit() or len(date_text) > 15:
        return None
    date_ms = int(date_text)
    hour_ms = date_ms - date_ms % glucose.HOUR_MS
    bucket = glucose.buckets().find_one({"_id": glucose.bucket_id(patient_id, hour_ms)})
    stored = ((bucket or {}).get("s") or {}).get(str(date_ms - hour_ms))
    if stored is None:
        return None
    reading = glucose_entries.present(patient_id, "sgv", date_ms, stored, bucket.get("dev"))
    at = datetime.fromtimestamp(date_ms / 1000, UTC)
    return Found(patient_id, fhir_glucose.reading_observation(patient_id, reading), at)


def read_observation(rid, now):
    if rid.startswith("cgm-"):
        return _read_cgm(rid, now)
    oid = object_id(rid)
    entry = logs.entries().find_one({"_id": oid}) if oid else None
    if entry is None or entry.get("state") != LIVE:
        return None
    return observations([entry], entry["patient"], now)[0]


def observations(entries: list[dict], patient_id, now) -> list[Found]:
    who = performers(patient_id, [e.get("recorded_by") for e in entries], now)
    return [
        Found(patient_id, fhir_glucose.reading_observation(patient_id, e["cgm"]), e["occurred_at"])
        if "cgm" in e
        else Found(
            patient_id,
            fhir.observation(e, who),
            e.get("changed_at") or e.get("updated_at") or e.get("created_at"),
        )
        for e in entries
    ]
