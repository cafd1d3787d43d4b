"""Caregiver grants: issuing a one-time code, redeeming it, listing and ending grants.

Whether a grant lets someone in is decided by the access rule (`api.access`, with
`grant_in_force`); this module
decides who may hand grants out and take them back, and keeps grants' lifecycle:
pending (a code is out) → active (a caregiver redeemed it) → ended (revoked, replaced or
the patient's account erased). An active grant also stops working, without a write, once
its `expires_on` has passed in the patient's time zone.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bson import ObjectId
from mongoengine.queryset.visitor import Q

from api.errors import Conflict, Forbidden, field_error
from api.models.care_team import CareTeamMember
from api.models.caregiver import PERMISSIONS, Grant
from api.models.user import User
from api.services.common import lookup
from api.services.common.acting import Acting
from api.services.common.codes import code_hash, new_code
from api.services.identity.minors import is_minor

CODE_VALID_DAYS = 7
_OPEN = ("pending", "active")
_UNKNOWN_CODE = "This code is not valid or has already been used."


def cumulative(permissions) -> list[str]:
    """Permissions build on each other: `log` includes `view`, `manage` includes both."""
    strongest = max(PERMISSIONS.index(p) for p in permissions)
    return list(PERMISSIONS[: strongest + 1])


def grant_in_force(grant: Grant, today: date) -> bool:
    return grant.status == "active" and (grant.expires_on is None or today <= grant.expires_on)


def patient_today(patient: User, now: datetime) -> date:
    return now.astimezone(ZoneInfo(patient.timezone or "UTC")).date()


def status_of(grant: Grant, patient: User | None, now: datetime) -> str:
    """What a client should see: a code or a grant past its end reads as `expired`."""
    if grant.status == "pending" and grant.code_expires_at <= now:
        return "expired"
    if grant.status == "active" and not grant_in_force(grant, patient_today(patient, now)):
        return "expired"
    return grant.status


def _provider_for_minor(scope: Acting, *, minor_age: int, now: datetime, act: str) -> None:
    if not is_minor(scope.patient, now, minor_age):
        raise Forbidden(f"A provider may {act} caregivers only for a minor.")


def _no_longer_than_own(own: Grant, expires_on: date | None) -> None:
    """A caregiver hands on no more than it holds. Only `manage` may issue, and `manage`
    holds every permission, so "more" can only mean longer.
    """
    if own.expires_on is not None and (expires_on is None or expires_on > own.expires_on):
        raise field_error(
            "expires_on",
            f"Must be on or before {own.expires_on.isoformat()}, when your own grant ends.",
        )


def issue(
    scope: Acting,
    *,
    relationship: str,
    permissions: list[str],
    expires_on: date | None,
    minor_age: int,
    now: datetime,
) -> tuple[Grant, str]:
    """A pending grant and its one-time code (returned once, stored only as a hash)."""
    if scope.relation == "caregiver" and "manage" not in scope.permissions:
        raise Forbidden("Adding a caregiver needs the 'manage' permission.")
    if scope.relation == "team":
        _provider_for_minor(scope, minor_age=minor_age, now=now, act="add")
    permissions = cumulative(permissions)
    today = patient_today(scope.patient, now)
    if expires_on is not None and expires_on < today:
        raise field_error(
            "expires_on",
            f"Must be today or later in the patient's time zone (today is {today.isoformat()}).",
        )
    if scope.relation == "caregiver":
        _no_longer_than_own(scope.grant, expires_on)
    code = new_code()
    grant = Grant(
        patient=scope.patient_id,
        relationship=relationship,
        permissions=permissions,
        status="pending",
        code_hash=code_hash(code),
        code_expires_at=now + timedelta(days=CODE_VALID_DAYS),
        expires_on=expires_on,
        created_by=scope.caller_id,
        issuer_relation=scope.relation,
        issued_under=scope.grant.pk if scope.relation == "caregiver" else None,
        created_at=now,
    )
    grant.save(force_insert=True)
    return grant, code


def redeem(caregiver_id: ObjectId, code: str, *, now: datetime) -> tuple[Grant, User]:
    """The caller becomes the grant's caregiver; a code works once, before it expires."""
    grant = Grant.objects(code_hash=code_hash(code)).first()
    if grant is None or grant.status != "pending":
        raise field_error("code", _UNKNOWN_CODE)
    if grant.code_expires_at <= now:
        raise field_error("code", "This code has expired; ask for a new one.")
    if grant.patient == caregiver_id:
        raise field_error(
            "code", "This code opens your own records; give it to the person who cares for you."
        )
    if grant.created_by == caregiver_id:
        raise field_error("code", "You issued this code; give it to the person it is for.")
    if _on_the_team(grant.patient, caregiver_id, since=grant.created_at):
        raise field_error(
            "code",
            "A provider on the patient's care team cannot also be their caregiver.",
        )
    patient = User.objects(pk=grant.patient, role="patient").first()
    if patient is None:
        raise field_error("code", _UNKNOWN_CODE)
    if grant.expires_on is not None and grant.expires_on < patient_today(patient, now):
        raise field_error("code", "The access this code would give has already ended.")
    claimed = Grant.objects(pk=grant.pk, status="pending", code_expires_at__gt=now).update_one(
        set__status="active",
        set__caregiver=caregiver_id,
        set__activated_at=now,
        set__updated_at=now,
    )
    if not claimed:
        raise field_error("code", _UNKNOWN_CODE)
    # One grant per caregiver and patient: a newer one (say, with more permissions) replaces
    # the earlier, so the access rule never has to choose between two.
    Grant.objects(
        patient=grant.patient, caregiver=caregiver_id, status="active", pk__ne=grant.pk
    ).update(
        set__status="ended", set__ended_at=now, set__ended_by=caregiver_id, set__updated_at=now
    )
    grant.reload()
    return grant, patient


def _on_the_team(patient_id: ObjectId, provider_id: ObjectId, *, since: datetime) -> bool:
    """Is the provider on the patient's care team, or were they when the grant was issued?

    A provider who could issue a code for a minor must not hold the guardian's powers over
    the same child, not even by leaving the team before redeeming it.
    """
    return bool(
        CareTeamMember.objects(patient=patient_id, provider=provider_id)
        .filter(Q(open=True) | Q(ended_at=None) | Q(ended_at__gte=since))
        .count()
    )


def dependants(caregiver_id: ObjectId, *, now: datetime) -> list[tuple[Grant, User]]:
    """The patients the caller acts for today, oldest grant first (the family switcher)."""
    grants = list(Grant.objects(caregiver=caregiver_id, status="active").order_by("created_at"))
    patients = {p.pk: p for p in User.objects(pk__in=[g.patient for g in grants], role="patient")}
    return [
        (grant, patients[grant.patient])
        for grant in grants
        if grant.patient in patients
        and grant_in_force(grant, patient_today(patients[grant.patient], now))
    ]


def grants_of(scope: Acting):
    """Every grant of the patient, newest first: for the patient, the team, or `manage`."""
    if scope.relation == "caregiver" and "manage" not in scope.permissions:
        raise Forbidden("Seeing the other caregivers needs the 'manage' permission.")
    return Grant.objects(patient=scope.patient_id).order_by("-created_at", "-id")


def people_by_id(grants) -> dict[ObjectId, User]:
    """The caregivers and the issuers of these grants, by id (names only)."""
    ids = {g.caregiver for g in grants if g.caregiver is not None}
    ids |= {g.created_by for g in grants}
    return {u.pk: u for u in User.objects(pk__in=list(ids)).only("name", "role")}


def end(scope: Acting, grant_id: str, *, minor_age: int, now: datetime) -> Grant:
    """The patient, that caregiver, its issuer with `manage`, or (minor) a provider ends it."""
    manages = "manage" in scope.permissions
    if scope.relation == "caregiver" and not manages and grant_id != str(scope.grant.pk):
        raise Forbidden("A caregiver may end only their own grant.")
    if scope.relation == "team":
        _provider_for_minor(scope, minor_age=minor_age, now=now, act="remove")
    grant = lookup.patients(Grant, scope.patient_id, grant_id)
    if scope.relation == "caregiver" and scope.caller_id not in (grant.caregiver, grant.created_by):
        raise Forbidden("A caregiver may end only their own grant or the ones they issued.")
    ended = Grant.objects(pk=grant.pk, status__in=_OPEN).update_one(
        set__status="ended", set__ended_at=now, set__ended_by=scope.caller_id, set__updated_at=now
    )
    if not ended:
        raise Conflict("This grant has already ended.")
    end_issued_under(grant, ended_by=scope.caller_id, now=now)
    grant.reload()
    return grant


def end_issued_under(grant: Grant, *, ended_by: ObjectId, now: datetime) -> int:
    """End every pending or active grant the ended one issued, and theirs in turn: a code a
    revoked caregiver handed out must not open the records after them."""
    ended, issuers = 0, [grant]
    while issuers:
        ids = [g.pk for g in issuers]
        issued = list(Grant.objects(patient=grant.patient, status__in=_OPEN, issued_under__in=ids))
        legacy = [g.caregiver for g in issuers if g.caregiver is not None]
        # Grants stored before `issued_under` existed name only their issuer.
        issued += Grant.objects(
            patient=grant.patient,
            status__in=_OPEN,
            issued_under=None,
            issuer_relation=None,
            created_by__in=legacy,
        )
        if not issued:
            break
        ended += Grant.objects(pk__in=[g.pk for g in issued], status__in=_OPEN).update(
            set__status="ended",
            set__ended_at=now,
            set__ended_by=ended_by,
            set__ended_reason="issuer_ended",
            set__updated_at=now,
        )
        issuers = [g for g in issued if g.status == "active"]
    return ended


def end_all_for_patient(patient_id: ObjectId, now: datetime) -> int:
    """End every pending or active grant of a patient (their account is being erased)."""
    return Grant.objects(patient=patient_id, status__in=_OPEN).update(
        set__status="ended", set__ended_at=now, set__updated_at=now
    )
