"""A patient's record as one FHIR R4 Bundle (type `collection`), written out as it is read.

Everything but the log entries is small (a few agreements, a care team, a medication list)
and is gathered first, with one query per kind. The entries (a year of them may be tens of
thousands) are read through one raw pymongo cursor with a projection, in batches, and each
is turned into an Observation and written out at once: memory stays flat however long the
history is, and no mongoengine object is built per entry.
"""

import json
import uuid
from collections.abc import Iterator
from datetime import datetime

from pymongo import ASCENDING

from api.models.agreement import Agreement
from api.models.alert import Alert
from api.models.care_team import CareTeamMember
from api.models.caregiver import Grant
from api.models.log import LIVE
from api.models.user import User
from api.services.alerts import engine as alerts
from api.services.alerts import verdicts
from api.services.care import checkups, medications
from api.services.common import local_days
from api.services.identity.caregivers import grant_in_force
from api.services.records import fhir, fhir_values
from api.services.tracking import logs

FHIR_JSON = "application/fhir+json"
ENTRY_BATCH = 500
_ENTRY_FIELDS = {
    "patient": 1,
    "uid": 1,
    "agreement": 1,
    "measure": 1,
    "occurred_at": 1,
    "value": 1,
    "entered_value": 1,
    "entered_unit": 1,
    "in_target": 1,
    "note": 1,
    "recorded_by": 1,
    "created_at": 1,
    "history.changed_at": 1,
}
_UNRESOLVED = ("open", "acknowledged")


def _caregivers(patient: User, now: datetime) -> list[tuple[Grant, User]]:
    """Active grants in force today (in the patient's zone), with their caregivers."""
    today = local_days.today(now, patient.timezone)
    grants = [
        g
        for g in Grant.objects(patient=patient.pk, status="active")
        if g.caregiver is not None and grant_in_force(g, today)
    ]
    people = {u.pk: u for u in User.objects(pk__in=[g.caregiver for g in grants]).only("name")}
    return [(g, people[g.caregiver]) for g in grants if g.caregiver in people]


def _flags(patient_id) -> list[dict]:
    unresolved = list(Alert.objects(patient=patient_id, status__in=_UNRESOLVED))
    rules = {
        r["_id"]: r for r in alerts.rules().find({"_id": {"$in": [a.rule for a in unresolved]}})
    }
    flags = []
    for alert in unresolved:
        rule = rules.get(alert.rule)
        what = verdicts.describe(rule, alert.level) if rule else alert.measure
        flags.append(fhir.flag(alert, f"{alert.severity.title()} alert: {what}"))
    return flags


def resources(patient: User, *, now: datetime) -> tuple[list[dict], dict]:
    """Every resource but the Observations, and who performed what (id → reference).

    Entries recorded by a provider name them as performer: anyone who could log was on the
    care team, and past members are exported too. A caregiver whose grant has ended is not
    in the bundle, so their entries carry no performer.
    """
    pid = patient.pk
    members = list(CareTeamMember.objects(patient=pid, status__in=("active", "ended")))
    agreements = list(Agreement.objects(patient=pid).order_by("created_at"))
    meds = list(medications.for_patient(pid))
    completions = list(checkups.completions_for(pid))
    caregivers = _caregivers(patient, now)
    provider_ids = {m.provider for m in members} | {a.author for a in agreements}
    provider_ids |= {m.prescriber.id for m in meds if m.prescriber is not None}
    provider_ids |= {c.recorded_by for c in completions}
    providers = {
        u.pk: u
        for u in User.objects(pk__in=list(provider_ids), role="provider").only("name", "specialty")
    }
    performers = {uid: fhir_values.reference("Practitioner", uid) for uid in providers}
    performers |= {g.caregiver: fhir_values.reference("RelatedPerson", g.pk) for g, _ in caregivers}
    performers[pid] = fhir_values.patient_ref(pid)

    found = [fhir.patient(patient)]
    found += [fhir.practitioner(p) for p in providers.values()]
    found += [fhir.related_person(g, person, pid) for g, person in caregivers]
    specialties = {p.pk: p.specialty for p in providers.values()}
    found.append(fhir.care_team(pid, members, specialties))
    for agreement in agreements:
        found.append(fhir.care_plan(agreement, completions))
        found += [fhir.goal(agreement, g) for g in agreement.content.goals]
    found += [fhir.procedure(c, performers.get(c.recorded_by)) for c in completions]
    for medication in meds:
        source = medication.prescriber or medication.reported_by
        informant = performers.get(source.id) if source is not None else None
        found.append(fhir.medication_statement(medication, informant))
    found += _flags(pid)
    return found, performers


def _observations(patient_id, performers: dict) -> Iterator[dict]:
    cursor = (
        logs.entries()
        .find({"patient": patient_id, "state": LIVE}, _ENTRY_FIELDS)
        .sort("occurred_at", ASCENDING)
        .batch_size(ENTRY_BATCH)
    )
    with cursor:
        for entry in cursor:
            yield fhir.observation(entry, performers)


def _entry(resource: dict, base: str) -> str:
    return json.dumps({"fullUrl": fhir_values.full_url(resource, base), "resource": resource})


def bundle(patient: User, *, now: datetime, base: str) -> Iterator[str]:
    """The Bundle as JSON text, in pieces: header, the small resources, then Observations.

    `base` is the FHIR API's absolute base URL: each `fullUrl` is where the API serves the
    resource, and the relative references resolve against it.
    """
    found, performers = resources(patient, now=now)
    header = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": fhir_values.instant(now),
    }
    yield json.dumps(header)[:-1] + ', "entry": ['
    separator = ""
    for resource in found:
        yield separator + _entry(resource, base)
        separator = ","
    for resource in _observations(patient.pk, performers):
        yield separator + _entry(resource, base)
        separator = ","
    yield "]}"
