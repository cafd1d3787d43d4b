"""An agreement activated, with a revision accepted, completed or revoked, and what follows.

the transition (`care.agreements`; accepting may complete the agreements it replaces)
  → for each agreement that changed:
    → the patient's agreement revision (logging processes drop their copies of it)
    → the template's default alert rules (on activation; once per patient and rule)
    → the check-up schedule and `overdue_checkup` on the summary
    → panel rows and clinic aggregates (summary and conditions, one swap)
    → reminders re-planned for the agreement
"""

from datetime import datetime

from api.models.agreement import Agreement
from api.services.alerts import rules
from api.services.care import agreements, checkups
from api.services.flows import derived
from api.services.reminders import planning
from api.services.tracking import summary as patient_summary


def transition(*, now: datetime, **kwargs) -> agreements.Outcome:
    """`agreements.transition`, then what follows for every agreement it changed."""
    outcome = agreements.transition(now=now, **kwargs)
    for agreement in outcome.changed:
        agreement_changed(agreement, now=now)
    return outcome


def agreement_changed(agreement: Agreement, *, now: datetime) -> None:
    patient_id = agreement.patient
    patient_summary.agreements_changed(patient_id)
    if agreement.status == "active" and agreement.template_id:
        rules.create_defaults(patient_id, agreement.template_id, now=agreement.updated_at)
    summary = checkups.refresh_summary(patient_id, now=now)
    derived.summary_moved(patient_id, summary, now=now, conditions=True)
    planning.replan_agreement(agreement, now)
