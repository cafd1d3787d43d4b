"""Demo data for `make run` and `flask seed-demo`: created once, logins printed every time."""

from datetime import date

from flask import current_app

from api.access import Scope
from api.auth import Caller
from api.clock import utcnow
from api.models.agreement import Agreement
from api.models.caregiver import Grant
from api.services.care import agreement_templates, agreements, care_team, education
from api.services.identity import accounts, caregivers, children

DEMO_PASSWORD = "carepact-demo-1"  # noqa: S105  # nosec B105
DEMO_ACCOUNTS = [
    {"role": "admin", "email": "admin@demo.carepact.test", "name": "Ada Admin"},
    {
        "role": "provider",
        "email": "pcp@demo.carepact.test",
        "name": "Dr. Priya Patel",
        "specialty": "primary care",
    },
    {
        "role": "provider",
        "email": "endo@demo.carepact.test",
        "name": "Dr. Erik Lund",
        "specialty": "endocrinology",
    },
    {
        "role": "patient",
        "email": "patient@demo.carepact.test",
        "name": "Pat Jensen",
        "timezone": "America/Chicago",
    },
]


def _ensure_account(spec: dict):
    return accounts.find_by_email(spec["email"]) or accounts.create_user(
        password=DEMO_PASSWORD, **spec
    )


DEMO_CHILD = {"name": "Sam Jensen", "age": 8, "template": "paediatric-heart"}


def _acting(user, patient, relation: str, grant: Grant | None = None) -> Scope:
    """What `patient_scope` would give `user` signed in, for seeding through the services."""
    who = Caller(id=user.pk, role=user.role, family="demo-seed", jti="demo-seed")
    return Scope(patient.pk, who, relation, grant=grant, _patient=patient)


def _ensure_active_agreement(patient, provider, template_id: str, accepted_as: Scope) -> None:
    """A plan from a built-in template, proposed by the provider and accepted once."""
    if Agreement.objects(patient=patient.pk, template_id=template_id).first():
        return
    now = utcnow()
    proposer = _acting(provider, patient, "team")
    draft = agreements.create_draft(scope=proposer, data={"template_id": template_id}, now=now)
    for action, scope in (("propose", proposer), ("accept", accepted_as)):
        agreements.transition(
            scope=scope,
            agreement_id=str(draft.pk),
            action=action,
            minor_age=current_app.config["MINOR_AGE"],
            now=now,
        )


def _ensure_child(parent, provider):
    """A child with a heart condition on the provider's panel, cared for by the demo patient
    (no login of its own): the parent holds a `manage` grant and accepted the child's plan."""
    grant = Grant.objects(caregiver=parent.pk, status="active").first()
    if grant is not None:
        return grant
    now = utcnow()
    child = children.create(
        provider.pk,
        name=DEMO_CHILD["name"],
        birth_date=date(now.year - DEMO_CHILD["age"], 5, 14),
        timezone=parent.timezone,
        now=now,
    )
    _, code = caregivers.issue(
        _acting(provider, child, "team"),
        relationship="parent",
        permissions=["manage"],
        expires_on=None,
        minor_age=current_app.config["MINOR_AGE"],
        now=now,
    )
    grant, _ = caregivers.redeem(parent.pk, code, now=now)
    _ensure_active_agreement(
        child, provider, DEMO_CHILD["template"], _acting(parent, child, "caregiver", grant)
    )
    return grant


def seed() -> list[str]:
    users = {spec["email"].split("@")[0]: _ensure_account(spec) for spec in DEMO_ACCOUNTS}
    patient, pcp = users["patient"], users["pcp"]
    # Through the service, so the membership listeners put the patient on the panel.
    care_team.activate(patient.pk, pcp.pk, "primary", utcnow())
    education.load_starter_library()
    _ensure_active_agreement(patient, pcp, "t2-diabetes", _acting(patient, patient, "self"))
    grant = _ensure_child(patient, pcp)
    lines = ["CarePact demo logins (password for all: " + DEMO_PASSWORD + ")"]
    lines += [f"  {spec['role']:<9} {spec['email']}" for spec in DEMO_ACCOUNTS]
    lines.append(
        f"  {DEMO_CHILD['name']} (patient id {grant.patient}, no login) is cared for by "
        f"{patient.email} with a 'manage' grant"
    )
    lines.append("Agreement templates: " + ", ".join(agreement_templates.builtins()))
    return lines
