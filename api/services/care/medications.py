"""The medication list and its duplicate therapy guard.

A new medication is a duplicate of an active one when they share an active ingredient (any
route, combination products included), or when both are in the same ATC chemical subgroup
(level 4, e.g. C09AA: ACE inhibitors, plain) and taken by the same route. A drug the ATC
data file does not know is stored `unverified` and compared by its name alone.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bson import ObjectId
from mongoengine.queryset.visitor import Q

from api.errors import Conflict, NotFound, field_error
from api.models.medication import Actor, DuplicateOverride, Medication, MedicationChange
from api.models.user import User
from api.services.care import atc
from api.services.common import lookup
from api.services.common.acting import Acting

SAME_INGREDIENT = "same_ingredient"
SAME_SUBGROUP_AND_ROUTE = "same_subgroup_and_route"


@dataclass(frozen=True)
class Drug:
    """What the name and code given stand for, as far as the data file knows."""

    ingredient: str | None
    atc_code: str | None
    subgroup: str | None
    keys: tuple[str, ...]

    @property
    def unverified(self) -> bool:
        return self.ingredient is None


def identify(name: str, atc_code: str | None, route: str) -> Drug:
    """Resolve the drug by its code, else its name; a code that contradicts the name → 422."""
    index = atc.index()
    named = index.candidates(name)
    if atc_code is None:
        entry = index.resolve(name, route)
    else:
        entry = index.code(atc_code)
        if named and entry not in named:
            known = ", ".join(sorted({e.code for e in named}))
            raise field_error(
                "atc_code", f"{atc_code} is not the code of {name!r} ({known} in our data)."
            )
    if entry is None:
        return Drug(ingredient=None, atc_code=atc_code, subgroup=None, keys=(atc.drug_key(name),))
    return Drug(
        ingredient=entry.ingredient,
        atc_code=entry.code,
        subgroup=entry.subgroup,
        keys=entry.ingredient_keys,
    )


def duplicates_of(patient_id: ObjectId, drug: Drug, route: str) -> list[Medication]:
    """The patient's active medications the new one would duplicate (one indexed query)."""
    same = Q(ingredient_keys__in=list(drug.keys))
    if drug.subgroup is not None:
        same |= Q(atc_subgroup=drug.subgroup, route=route)
    return list(
        Medication.objects(Q(patient=patient_id, status="active") & same).order_by("start_on")
    )


def _match(existing: Medication, drug: Drug) -> str:
    if set(existing.ingredient_keys) & set(drug.keys):
        return SAME_INGREDIENT
    return SAME_SUBGROUP_AND_ROUTE


def _who_started(medication: Medication) -> str:
    if medication.prescriber is not None:
        return f"prescribed by {medication.prescriber.name}"
    return f"self-reported by {medication.reported_by.name}"


def _describe(medication: Medication, drug: Drug) -> dict:
    return {
        "id": str(medication.pk),
        "name": medication.name,
        "ingredient": medication.ingredient,
        "atc_code": medication.atc_code,
        "route": medication.route,
        "dose": medication.dose,
        "since": medication.start_on.isoformat(),
        "prescriber": _actor_json(medication.prescriber),
        "self_reported": medication.self_reported,
        "reported_by": _actor_json(medication.reported_by),
        "match": _match(medication, drug),
    }


def _actor_json(actor: Actor | None) -> dict | None:
    return None if actor is None else {"id": str(actor.id), "name": actor.name}


def _duplicate_conflict(found: list[Medication], drug: Drug) -> Conflict:
    named = "; ".join(
        f"{m.name} ({m.id}), {_who_started(m)} since {m.start_on.isoformat()}" for m in found
    )
    return Conflict(
        f"This duplicates an active medication: {named}. To start it anyway, send "
        "confirm_duplicate: true with a reason.",
        duplicates=[_describe(m, drug) for m in found],
    )


def _actor(scope: Acting) -> Actor:
    if scope.relation == "self":
        return Actor(id=scope.patient_id, name=scope.patient.name)
    user = User.objects(pk=scope.caller_id).only("name").first()
    if user is None:
        raise NotFound()
    return Actor(id=user.pk, name=user.name)


def add(scope: Acting, data: dict, *, now: datetime) -> Medication:
    """A provider on the team prescribes; the patient or a caregiver self-reports (marked)."""
    drug = identify(data["name"], data.get("atc_code"), data["route"])
    found = duplicates_of(scope.patient_id, drug, data["route"])
    if found and not data["confirm_duplicate"]:
        raise _duplicate_conflict(found, drug)
    actor = _actor(scope)
    medication = Medication(
        patient=scope.patient_id,
        name=data["name"],
        ingredient=drug.ingredient,
        atc_code=drug.atc_code,
        atc_subgroup=drug.subgroup,
        unverified=drug.unverified,
        ingredient_keys=list(drug.keys),
        dose=data["dose"],
        route=data["route"],
        frequency=data["frequency"],
        reason=data.get("reason"),
        start_on=data["start_on"],
        status="active",
        prescriber=actor if scope.relation == "team" else None,
        self_reported=scope.relation != "team",
        reported_by=actor,
        created_at=now,
    )
    if found:
        medication.duplicate_override = DuplicateOverride(
            confirmed_by=actor,
            confirmed_at=now,
            reason=data["reason"],
            duplicates=[m.pk for m in found],
        )
    return medication.save(force_insert=True)


def _medication(patient_id: ObjectId, medication_id: str) -> Medication:
    return lookup.patients(Medication, patient_id, medication_id)


def _check_stop(scope: Acting, medication: Medication, stop_on, now: datetime) -> None:
    if stop_on < medication.start_on:
        raise field_error(
            "stop_on", f"Must not be before the start date ({medication.start_on.isoformat()})."
        )
    # A stopped medication leaves the active list at once, so its stop date cannot be ahead.
    today = now.astimezone(ZoneInfo(scope.patient.timezone)).date()
    if stop_on > today:
        raise field_error("stop_on", f"Must not be after today ({today.isoformat()}).")


def change(scope: Acting, medication_id: str, data: dict, *, now: datetime) -> Medication:
    """Change the dose or frequency, or stop it; a stopped medication stays as it was."""
    medication = _medication(scope.patient_id, medication_id)
    if medication.status != "active":
        raise Conflict(
            f"This medication was stopped on {medication.stop_on.isoformat()}; "
            "start a new one instead of changing it."
        )
    if "stop_on" in data:
        _check_stop(scope, medication, data["stop_on"], now)
    actor = _actor(scope)
    updates = {}
    replaced = {}
    for name in ("dose", "frequency"):
        if name in data and data[name] != medication[name]:
            updates[f"set__{name}"] = data[name]
            replaced[name] = medication[name]
    if replaced:
        updates["push__changes"] = MedicationChange(at=now, by=actor, **replaced)
    if "stop_on" in data:
        updates.update(
            set__status="stopped",
            set__stop_on=data["stop_on"],
            set__stop_reason=data.get("stop_reason"),
            set__stopped_by=actor,
            set__stopped_at=now,
        )
    if not updates:
        return medication
    changed = Medication.objects(pk=medication.pk, status="active").update_one(
        set__updated_at=now, **updates
    )
    if not changed:
        raise Conflict("This medication was stopped meanwhile; reload it.")
    medication.reload()
    return medication


def for_patient(patient_id: ObjectId, *, status: str | None = None):
    """Active first, then stopped; the newest start first within each."""
    medications = Medication.objects(patient=patient_id)
    if status is not None:
        medications = medications.filter(status=status)
    return medications.order_by("status", "-start_on", "-id")


def active_for(patient_id: ObjectId) -> list[Medication]:
    """The active medications, newest first: one MedicationStatement each in the export."""
    return list(for_patient(patient_id, status="active"))
