"""The care team: invitations, joining, referrals, approval and ending a membership."""

from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine.errors import NotUniqueError

from api.clock import utcnow
from api.errors import Conflict, Forbidden, ValidationFailed, field_error
from api.models.care_team import CareTeamMember, Invitation
from api.models.user import User
from api.services.common import lookup
from api.services.common.acting import Acting
from api.services.common.codes import code_hash, new_code


def create_invitation(provider_id: ObjectId, *, role: str, valid_days: int, now: datetime):
    code = new_code()
    invitation = Invitation(
        code_hash=code_hash(code),
        provider=provider_id,
        role=role,
        expires_at=now + timedelta(days=valid_days),
        created_at=now,
    ).save()
    return {"code": code, "expires_at": invitation.expires_at, "role": role}


def _usable_invitation(code: str, now: datetime) -> Invitation:
    invitation = Invitation.objects(code_hash=code_hash(code)).first()
    if invitation is None or invitation.used_at is not None:
        raise field_error("code", "This code is not valid or has already been used.")
    if invitation.expires_at <= now:
        raise field_error("code", "This code has expired; ask your provider for a new one.")
    return invitation


def as_invite_code_error(error: ValidationFailed) -> ValidationFailed:
    """The same complaint about a code, for sign-up, where the field is `invite_code`."""
    return ValidationFailed({"invite_code": error.errors["code"]})


def check_invitation(code: str, now: datetime | None = None) -> None:
    """Raise 422 naming `invite_code` unless the code could be redeemed now."""
    try:
        _usable_invitation(code, now or utcnow())
    except ValidationFailed as error:
        raise as_invite_code_error(error) from None


def join_with_code(patient: User, code: str, now: datetime | None = None):
    """The patient's consent: redeem the code once, then join that provider's team.
    (member, changed?) as `activate`."""
    now = now or utcnow()
    invitation = _usable_invitation(code, now)
    claimed = Invitation.objects(pk=invitation.pk, used_at=None, expires_at__gt=now).update_one(
        set__used_at=now, set__used_by=patient.pk
    )
    if not claimed:
        raise field_error("code", "This code is not valid or has already been used.")
    try:
        return activate(patient.pk, invitation.provider, invitation.role, now)
    except Exception:
        # Give the code back, so a failed join can be retried with the same code.
        Invitation.objects(pk=invitation.pk).update_one(unset__used_at=True, unset__used_by=True)
        raise


def activate(patient_id, provider_id, role, now) -> tuple[CareTeamMember, bool]:
    """An active membership (an open pending one is approved): (member, whether it changed,
    so the membership flow must follow)."""
    existing = CareTeamMember.objects(patient=patient_id, provider=provider_id, open=True).first()
    if existing is not None:
        if existing.status == "pending":
            existing.update(set__status="active", set__activated_at=now, set__updated_at=now)
            existing.reload()
            return existing, True
        return existing, False
    member = CareTeamMember(
        patient=patient_id,
        provider=provider_id,
        role=role,
        status="active",
        open=True,
        activated_at=now,
        created_at=now,
    )
    try:
        member.save(force_insert=True)
    except NotUniqueError:
        found = CareTeamMember.objects(patient=patient_id, provider=provider_id, open=True).first()
        return found, False
    return member, True


def refer(patient_id, *, referred_by, provider_id: str, role: str, reason: str | None, now):
    """Add a provider as *pending*: access starts only when the patient approves."""
    try:
        provider = User.objects(pk=ObjectId(provider_id), role="provider").first()
    except (InvalidId, TypeError):
        provider = None
    if provider is None:
        raise field_error("provider_id", "No provider with this id.")
    member = CareTeamMember(
        patient=patient_id,
        provider=provider.pk,
        role=role,
        status="pending",
        open=True,
        reason=reason,
        referred_by=referred_by,
        created_at=now,
    )
    try:
        member.save(force_insert=True)
    except NotUniqueError:
        raise Conflict(
            "This provider is already on the care team or has a pending referral."
        ) from None
    return member


def _member(patient_id, member_id: str) -> CareTeamMember:
    return lookup.patients(CareTeamMember, patient_id, member_id)


def approve(patient_id, member_id: str, now) -> CareTeamMember:
    member = _member(patient_id, member_id)
    updated = CareTeamMember.objects(pk=member.pk, status="pending").update_one(
        set__status="active", set__activated_at=now, set__updated_at=now
    )
    if not updated:
        raise Conflict(f"Only a pending referral can be approved; this one is {member.status}.")
    member.reload()
    return member


def end(scope: Acting, member_id: str, now) -> CareTeamMember:
    """The patient (or a managing caregiver) or that provider ends it; access stops at once."""
    # Before the lookup: a caregiver without `manage` learns nothing about the member ids.
    if scope.relation == "caregiver" and "manage" not in scope.permissions:
        raise Forbidden("This caregiver grant does not include the 'manage' permission.")
    member = _member(scope.patient_id, member_id)
    if scope.relation == "team" and member.provider != scope.caller_id:
        raise Forbidden("A provider may end only their own membership.")
    updated = CareTeamMember.objects(pk=member.pk, open=True).update_one(
        set__status="ended",
        unset__open=True,
        set__ended_at=now,
        set__ended_by=scope.caller_id,
        set__updated_at=now,
    )
    if not updated:
        raise Conflict("This membership has already ended.")
    member.reload()
    return member


def members(patient_id):
    return CareTeamMember.objects(patient=patient_id).order_by("-created_at", "id")


def providers_by_id(members) -> dict:
    ids = {m.provider for m in members}
    return {u.pk: u for u in User.objects(pk__in=list(ids)).only("name", "specialty", "email")}
