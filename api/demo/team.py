"""The clinic, its people, care teams and active agreements, through the services.

Every step finds what an earlier run made before making it, so seeding again changes nothing.
"""

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from api.access import Scope
from api.auth import Caller
from api.demo.cast import CLINIC_NAME, CLINIC_TZ, DEMO_PASSWORD, DOMAIN, STAFF, T2D
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.models.caregiver import Grant
from api.models.clinic import Clinic
from api.models.user import User
from api.services.care import agreement_templates, agreements, care_team
from api.services.care.agreement_content import content_data
from api.services.clinic import clinics
from api.services.flows import agreements as agreement_flow
from api.services.flows import clinics as clinic_flow
from api.services.flows import memberships
from api.services.identity import accounts, caregivers
from api.services.identity import settings as identity_settings

# Recommended by the HbA1c recall campaign, so its outcomes can count who read it.
A1C_READING = {"title": "What your A1C test means", "item_id": "t2d-what-your-a1c-means"}


def acting(user: User, patient: User, relation: str, grant: Grant | None = None) -> Scope:
    """What `patient_scope` would give `user` signed in, for seeding through the services."""
    who = Caller(id=user.pk, role=user.role, family="demo-seed", jti="demo-seed")
    return Scope(patient.pk, who, relation, grant=grant, _patient=patient)


def local_instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(CLINIC_TZ))


def ensure_account(email: str, **spec) -> User:
    found = accounts.find_by_email(email)
    if found is not None:
        return found
    # The demo's password is printed for all to read: a memory-hard hash of it protects
    # nothing, and sixty-six of them would be a good part of the seed's minute.
    in_force = identity_settings.current()
    identity_settings.install(replace(in_force, hash_profile="light"))
    try:
        return accounts.create_user(email=email, password=DEMO_PASSWORD, **spec)
    finally:
        identity_settings.install(in_force)


def ensure_staff() -> dict[str, User]:
    staff = {}
    for spec in STAFF:
        fields = {k: v for k, v in spec.items() if k != "key"}
        staff[spec["key"]] = ensure_account(f"{spec['key']}@{DOMAIN}", **fields)
    return staff


def ensure_clinic(staff: dict[str, User], now: datetime) -> Clinic:
    """The clinic with its four providers, placed before any patient joins a team, so the
    membership flow brings each patient into the clinic's figures as they join."""
    clinic = Clinic.objects(name=CLINIC_NAME).first() or clinics.create_clinic(
        name=CLINIC_NAME, created_by=staff["admin"].pk, now=now
    )
    for user in staff.values():
        if user.role == "provider":
            clinic_flow.add_provider(clinic_id=clinic.pk, provider_id=str(user.pk), now=now)
    return clinic


def _birth_date(key: str, year: int) -> date:
    """A stable birthday in `year` (the key's letters pick the month and day)."""
    digest = sum(ord(c) * (i + 1) for i, c in enumerate(key))
    return date(year, 1 + digest % 12, 1 + digest % 28)


def ensure_patient(person) -> User:
    return ensure_account(
        person.email,
        name=person.name,
        role="patient",
        timezone=CLINIC_TZ,
        birth_date=_birth_date(person.key, person.birth_year),
    )


def ensure_team(patient: User, staff: dict[str, User], specialists: list[str], at: datetime):
    """The GP as primary; each specialist referred by the GP and approved by the patient."""
    pcp = staff["pcp"]
    memberships.activate(patient.pk, pcp.pk, "primary", now=at)
    for key in specialists:
        provider = staff[key]
        if CareTeamMember.objects(patient=patient.pk, provider=provider.pk, open=True).first():
            continue
        member = care_team.refer(
            patient.pk,
            referred_by=pcp.pk,
            provider_id=str(provider.pk),
            role="specialist",
            reason=f"Shared care with {provider.specialty}",
            now=at,
        )
        memberships.approve(patient.pk, str(member.pk), now=at + timedelta(hours=2))


def _draft_data(template_id: str) -> dict:
    data = {"template_id": template_id}
    if template_id == T2D:
        content = content_data(agreement_templates.find(template_id).content, ids=False)
        data["education"] = [*content["education"], A1C_READING]
    return data


def ensure_active_agreement(
    patient: User, provider: User, template_id: str, accepted_as: Scope, at: datetime
) -> Agreement:
    """A plan from a built-in template, proposed by the provider at `at` and accepted an hour
    later (the history is logged against it, so it starts before the history does)."""
    found = Agreement.objects(patient=patient.pk, template_id=template_id).first()
    if found is not None:
        return found
    proposer = acting(provider, patient, "team")
    draft = agreements.create_draft(scope=proposer, data=_draft_data(template_id), now=at)
    steps = (("propose", proposer, at), ("accept", accepted_as, at + timedelta(hours=1)))
    for action, scope, when in steps:
        agreement_flow.transition(
            scope=scope,
            agreement_id=str(draft.pk),
            action=action,
            minor_age=current_app.config["MINOR_AGE"],
            now=when,
        )
    return Agreement.objects(pk=draft.pk).first()


def ensure_child(child_spec, parent: User, staff: dict[str, User], at: datetime):
    """A child with a heart condition on the GP's panel (no login of their own), cared for by
    the parent with a `manage` grant, who accepted the child's plan on the child's behalf.
    Returns (child, grant)."""
    pcp = staff["pcp"]
    grant = Grant.objects(caregiver=parent.pk, status="active").first()
    if grant is None:
        child = memberships.create_child(
            pcp.pk,
            name=child_spec.name,
            birth_date=date(at.year - child_spec.age, 5, 14),
            timezone=CLINIC_TZ,
            now=at,
        )
        _, code = caregivers.issue(
            acting(pcp, child, "team"),
            relationship="parent",
            permissions=["manage"],
            expires_on=None,
            minor_age=current_app.config["MINOR_AGE"],
            now=at,
        )
        grant, _ = caregivers.redeem(parent.pk, code, now=at)
    child = User.objects(pk=grant.patient).first()
    ensure_team(child, staff, child_spec.specialists, at)
    as_parent = acting(parent, child, "caregiver", grant)
    ensure_active_agreement(child, pcp, child_spec.plan, as_parent, at + timedelta(hours=1))
    return child, grant
