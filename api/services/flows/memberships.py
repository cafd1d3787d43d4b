"""A care-team membership starting or ending, and what follows.

the membership (`care.care_team`: joining with a code, a referral approved, a child's
record created by its provider, a membership ended)
  → panel rows: the patient on exactly their active providers' panels
  → the panels' search terms (name, conditions) for exactly those providers
  → clinic population: the patient joins or leaves each of that provider's clinics
"""

from datetime import datetime

from api.models.care_team import CareTeamMember
from api.models.user import User
from api.services.care import care_team
from api.services.clinic import panel, panel_search, population
from api.services.identity import children, signup


def membership_changed(member: CareTeamMember, *, now: datetime) -> None:
    providers = panel.active_providers(member.patient)
    panel.sync_patient(member.patient, providers=providers)
    panel_search.refresh(member.patient, providers=providers)
    population.membership_changed(member, now=now)


def activate(patient_id, provider_id, role: str, *, now: datetime) -> CareTeamMember:
    member, changed = care_team.activate(patient_id, provider_id, role, now)
    if changed:
        membership_changed(member, now=now)
    return member


def join_with_code(patient: User, code: str, *, now: datetime) -> CareTeamMember:
    member, changed = care_team.join_with_code(patient, code, now)
    if changed:
        membership_changed(member, now=now)
    return member


def verify_email(*, email: str, code: str, now: datetime) -> tuple[User, bool]:
    """The account created by its mailed sign-up code; with the sign-up's invite code it
    also joined that provider's care team: (user, joined?)."""
    user, joined = signup.verify_email(email=email, code=code, now=now)
    if joined is not None:
        membership_changed(joined, now=now)
    return user, joined is not None


def create_child(provider_id, *, now: datetime, **fields) -> User:
    """A child's record created by their provider, on that provider's care team."""
    patient, member = children.create(provider_id, now=now, **fields)
    membership_changed(member, now=now)
    return patient


def approve(patient_id, member_id: str, *, now: datetime) -> CareTeamMember:
    member = care_team.approve(patient_id, member_id, now)
    membership_changed(member, now=now)
    return member


def end(scope, member_id: str, *, now: datetime) -> CareTeamMember:
    member = care_team.end(scope, member_id, now)
    membership_changed(member, now=now)
    return member
