"""Clinics: created by an admin, providers placed in them, and the patients they serve."""

from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine.errors import NotUniqueError

from api.errors import Conflict, NotFound, field_error
from api.models.care_team import CareTeamMember
from api.models.clinic import Clinic
from api.models.user import User


def _object_id(value) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def create_clinic(*, name: str, created_by, now: datetime) -> Clinic:
    clinic = Clinic(
        name=name.strip(),
        name_key=_name_key(name),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    try:
        clinic.save(force_insert=True)
    except NotUniqueError:  # mongoengine's duplicate key on save
        raise Conflict("A clinic with this name already exists.") from None
    return clinic


def get_clinic(clinic_id) -> Clinic:
    clinic_oid = _object_id(clinic_id)
    clinic = Clinic.objects(pk=clinic_oid).first() if clinic_oid else None
    if clinic is None:
        raise NotFound()
    return clinic


def add_provider(*, clinic_id, provider_id: str, now: datetime) -> tuple[Clinic, bool]:
    """Place a provider in a clinic; placing them again changes nothing. (clinic, added?)"""
    clinic = get_clinic(clinic_id)
    provider_oid = _object_id(provider_id)
    if provider_oid is None or not User.objects(pk=provider_oid, role="provider").count():
        raise field_error("provider_id", "No provider with this id.")
    added = Clinic.objects(pk=clinic.pk, providers__ne=provider_oid).update_one(
        push__providers=provider_oid, set__updated_at=now
    )
    clinic.reload()
    return clinic, bool(added)


def is_member(clinic_id, provider_id) -> bool:
    clinic_oid, provider_oid = _object_id(clinic_id), _object_id(provider_id)
    if clinic_oid is None or provider_oid is None:
        return False
    return Clinic.objects(pk=clinic_oid, providers=provider_oid).count(with_limit_and_skip=True) > 0


def clinic_for(clinic_id, who) -> Clinic:
    """The clinic, for an admin or one of its providers; anyone else gets 404."""
    clinic = get_clinic(clinic_id)
    if who.role != "admin" and who.id not in clinic.providers:
        raise NotFound()
    return clinic


def clinic_patient_ids(clinic_id) -> list[ObjectId]:
    """Patients on the active care team of any of the clinic's providers (one indexed query)."""
    return _patients_of(get_clinic(clinic_id).providers)


def _patients_of(providers) -> list[ObjectId]:
    if not providers:
        return []
    return CareTeamMember.objects(provider__in=providers, status="active").distinct("patient")


def describe(clinic: Clinic) -> dict:
    providers = User.objects(pk__in=clinic.providers).only("name", "specialty").order_by("name")
    return {
        "id": str(clinic.pk),
        "name": clinic.name,
        "providers": [
            {"id": str(p.pk), "name": p.name, "specialty": p.specialty} for p in providers
        ],
        "patient_count": len(_patients_of(clinic.providers)),
        "created_at": clinic.created_at,
    }
