"""Demo data for `make run` and `flask seed-demo`: created once, logins printed every time."""

from flask import current_app

from api.access import Scope
from api.auth import Caller
from api.clock import utcnow
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.services import accounts, agreement_templates, agreements, education

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


def _acting(user, patient, relation: str) -> Scope:
    """What `patient_scope` would give `user` signed in, for seeding through the services."""
    who = Caller(id=user.pk, role=user.role, family="demo-seed", jti="demo-seed")
    return Scope(patient.pk, who, relation, _patient=patient)


def _ensure_active_agreement(patient, provider, template_id: str) -> None:
    """The demo patient's plan from a built-in template, proposed and accepted once."""
    if Agreement.objects(patient=patient.pk, template_id=template_id).first():
        return
    now = utcnow()
    draft = agreements.create_draft(
        scope=_acting(provider, patient, "team"), data={"template_id": template_id}, now=now
    )
    for action, actor, relation in (("propose", provider, "team"), ("accept", patient, "self")):
        agreements.transition(
            scope=_acting(actor, patient, relation),
            agreement_id=str(draft.pk),
            action=action,
            minor_age=current_app.config["MINOR_AGE"],
            now=now,
        )


def seed() -> list[str]:
    users = {spec["email"].split("@")[0]: _ensure_account(spec) for spec in DEMO_ACCOUNTS}
    patient, pcp = users["patient"], users["pcp"]
    if not CareTeamMember.objects(patient=patient.pk, provider=pcp.pk, open=True).first():
        now = utcnow()
        CareTeamMember(
            patient=patient.pk,
            provider=pcp.pk,
            role="primary",
            status="active",
            open=True,
            activated_at=now,
        ).save()
    education.load_starter_library()
    _ensure_active_agreement(patient, pcp, "t2-diabetes")
    lines = ["CarePact demo logins (password for all: " + DEMO_PASSWORD + ")"]
    lines += [f"  {spec['role']:<9} {spec['email']}" for spec in DEMO_ACCOUNTS]
    lines.append("Agreement templates: " + ", ".join(agreement_templates.builtins()))
    return lines
