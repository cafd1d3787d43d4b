"""Demo data for `make run` and `flask seed-demo`: created once, logins printed every time."""

from api.clock import utcnow
from api.models.care_team import CareTeamMember
from api.services import accounts, education

DEMO_PASSWORD = "carepact-demo-1"  # noqa: S105 - printed for the demo on purpose
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
    lines = ["CarePact demo logins (password for all: " + DEMO_PASSWORD + ")"]
    lines += [f"  {spec['role']:<9} {spec['email']}" for spec in DEMO_ACCOUNTS]
    return lines
