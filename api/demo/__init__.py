"""The demo clinic for `make run` and `flask seed-demo`: Riverside Family Practice.

A GP, a respiratory nurse practitioner, an endocrinologist and a paediatric cardiologist;
about 60 patients with type 2 diabetes, asthma or hypertension and a child with a heart
condition cared for by a parent; ninety days of history (and a fortnight of CGM readings for
three of the diabetics) written through the services, so rollups, summaries, panel,
population and alerts agree as they do in use, and the population snapshot the nightly job
would have taken a month ago (the month-on-month trend). Seeding again changes
nothing; the logins are printed every time.
"""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from api.clock import utcnow
from api.config import RELAXED_ENVIRONMENTS
from api.demo import care, cgm, outreach, reviews, team, trend
from api.demo.cast import (
    CLINIC_NAME,
    CLINIC_TZ,
    DEMO_PASSWORD,
    DOMAIN,
    FULL_PATIENTS,
    STAFF,
    TITLES,
    Child,
    roster,
)
from api.demo.history import entries_for
from api.models.agreement import Agreement
from api.models.education import EducationItem
from api.schemas import shipped
from api.services.care import agreement_templates, education
from api.services.flows import alerts as alert_flow
from api.services.flows import days
from api.services.tracking import logs

__all__ = ["DEMO_ACCOUNTS", "DEMO_PASSWORD", "FULL_PATIENTS", "seed"]

DEMO_ACCOUNTS = [
    *({"role": s["role"], "email": f"{s['key']}@{DOMAIN}", "name": s["name"]} for s in STAFF),
    {"role": "patient", "email": f"patient@{DOMAIN}", "name": "Pat Jensen"},
]
PRINTED_PATIENTS = 8


def _write_history(person, patient, author: logs.Author, *, today, now) -> bool:
    """The patient's ninety days, unless they are there; whether they were written."""
    if care.has_history(patient):
        return False
    items = []
    for agreement in Agreement.objects(patient=patient.pk, status="active"):
        items += entries_for(
            person, agreement, today=today, now=now, first_at=agreement.active_since
        )
    items.sort(key=lambda item: item["occurred_at"])
    care.write_history(author, items, now=now)
    return True


def seed(*, patients: int = FULL_PATIENTS) -> list[str]:
    """Seed the clinic (the featured patients and others up to `patients`); the logins."""
    if current_app.config["CAREPACT_ENV"] not in RELAXED_ENVIRONMENTS:
        raise care.SeedError("Demo accounts share a published password: never in production.")
    now = utcnow()
    today = now.astimezone(ZoneInfo(CLINIC_TZ)).date()
    staff = team.ensure_staff()
    clinic = team.ensure_clinic(staff, now)
    if not EducationItem.objects.first():
        education.load_starter_library(shipped.starter_items(), now=now)
    cast = roster(patients)
    people, written = {}, []
    for person in cast:
        patient = people[person.key] = team.ensure_patient(person)
        enrolled = team.local_instant(today - timedelta(days=person.enrolled_days_ago), time(9))
        team.ensure_team(patient, staff, person.specialists, enrolled)
        for hour, plan in enumerate(person.plans):
            as_patient = team.acting(patient, patient, "self")
            at = enrolled + timedelta(hours=hour + 1)
            team.ensure_active_agreement(patient, staff["pcp"], plan, as_patient, at)
        care.tune_rules(person, patient, staff, now=now)
        author = logs.Author(patient.pk, patient.pk, "self")
        if _write_history(person, patient, author, today=today, now=now):
            written.append(patient)
    child_spec = Child()
    parent = people[child_spec.parent]
    enrolled = team.local_instant(today - timedelta(days=100), time(10))
    child, _ = team.ensure_child(child_spec, parent, staff, enrolled)
    caregiver = logs.Author(child.pk, parent.pk, "caregiver")
    if _write_history(child_spec, child, caregiver, today=today, now=now):
        written.append(child)
    everyone = [*people.values(), child]
    if trend.take_past_snapshot(clinic, everyone, today=today):
        written = everyone
    # The agreements were accepted on past dates, which their check-up statuses were judged
    # on (and the trend's snapshot left the figures a month old): close yesterday as the
    # nightly job does, which judges them today.
    for patient in written:
        days.close_day(patient, today - timedelta(days=1), now=now)
    cgm.upload_traces(cast, people, today=today, now=now)
    reviews.mark_reviews(cast, people, staff, now=now)
    for person in cast:
        care.record_checkups(person, people[person.key], staff, today=today, now=now)
    if "victor" in people:
        care.acknowledge_highs(people["victor"], staff, now=now)
    outreach.post_threads(people, staff, now=now)
    by_key = {person.key: person for person in cast}
    outreach.run_campaign(clinic, people, by_key, staff, today=today, now=now)
    alert_flow.check_no_data(now=now)
    return _logins(cast, child_spec, parent)


def _logins(cast, child_spec, parent) -> list[str]:
    lines = [
        f"{CLINIC_NAME}: {len(cast)} adult patients and a child, 90 days of history",
        f"Demo logins (password for all: {DEMO_PASSWORD})",
    ]
    for spec in STAFF:
        lines.append(f"  {TITLES[spec['key']]:<32} {spec['name']:<18} {spec['key']}@{DOMAIN}")
    lines.append("Patients worth opening (they sign in to the app with the same password):")
    for person in cast[:PRINTED_PATIENTS]:
        lines.append(f"  {person.name:<16} {person.email:<36} {person.note}")
    lines.append(f"  every other patient: first.last@{DOMAIN}")
    lines.append(
        f"  {child_spec.name} (a child, no login) is cared for by {parent.email} with a "
        "'manage' grant"
    )
    lines.append("Agreement templates: " + ", ".join(agreement_templates.builtins()))
    return lines
