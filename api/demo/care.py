"""What happened in the clinic: logs, alert rules, check-ups and an acknowledged alert.

Each goes through the service a request would call, so the rollups, summaries, panel rows,
population figures and alerts move exactly as they do in use.
"""

from datetime import date, datetime, timedelta

from api.demo.cast import ASTHMA, HYPERTENSION, RISING_BP, T2D, demo_random
from api.demo.history import peak_flow_best
from api.errors import Conflict
from api.models.agreement import Agreement
from api.models.alert import Alert, AlertRule
from api.models.checkup import CheckupCompletion
from api.models.log import LogEntry
from api.models.user import User
from api.schemas.logs import LogEntryCreateSchema
from api.services.alerts import rules
from api.services.flows import alerts as alert_flow
from api.services.flows import checkups as checkup_flow
from api.services.flows import entries as entry_flow
from api.services.tracking import logs

_load_item = LogEntryCreateSchema().load

BP_RULE = {
    "measure": "blood_pressure_systolic",
    "kind": "threshold",
    "op": "above",
    "value": 150,
    "unit": "mmHg",
    "count": 3,
    "within": "P7D",
    "severity": "warning",
    "notify": ["primary"],
    "advice": "Three home readings above 150 in a week: review the treatment.",
}
HIGHS_NOTE = "Called Victor: doses missed while travelling, back on track. Recheck in 3 days."
DUPLICATE_REASON = "Haemolysed sample at the GP's lab; endocrinology asked for a repeat."


class SeedError(RuntimeError):
    """A demo step the services refused: the seed is out of step with the code."""


def has_history(patient: User) -> bool:
    return LogEntry.objects(patient=patient.pk).first() is not None


def write_history(author: logs.Author, items: list[dict], *, now: datetime) -> int:
    """The items as the app's offline batches of at most 500, oldest first."""
    stored = 0
    for start in range(0, len(items), logs.MAX_BATCH):
        results, _ = entry_flow.log_batch(
            author, items[start : start + logs.MAX_BATCH], _load_item, now=now
        )
        refused = [r for r in results if r["status"] == "error"]
        if refused:
            raise SeedError(f"log entries refused: {refused[:2]}")
        stored += len(results)
    return stored


# --- alert rules ----------------------------------------------------------------------------


def tune_rules(person, patient: User, staff: dict, *, now: datetime) -> None:
    """The respiratory NP sets the personal best the asthma zone rule waits for; the GP
    watches a patient whose pressure is climbing with a rule of their own."""
    if ASTHMA in person.plans:
        zone = AlertRule.objects(patient=patient.pk, kind="zone").first()
        if zone is not None and zone.personal_best is None:
            alert_flow.change_rule(
                patient_id=patient.pk,
                rule_id=str(zone.pk),
                data={"personal_best": float(peak_flow_best(person))},
                now=now,
            )
    if person.story == RISING_BP and not AlertRule.objects(patient=patient.pk, origin=None):
        rules.create(patient_id=patient.pk, data=BP_RULE, by=staff["pcp"].pk, now=now)


def acknowledge_highs(patient: User, staff: dict, *, now: datetime) -> None:
    for alert in Alert.objects(patient=patient.pk, kind="threshold", status="open"):
        alert_flow.acknowledge(
            patient_id=patient.pk,
            alert_id=str(alert.pk),
            by=staff["pcp"].pk,
            note=HIGHS_NOTE,
            now=now,
        )


# --- check-ups ------------------------------------------------------------------------------


def _checkup_id(patient: User, name: str) -> str | None:
    for agreement in Agreement.objects(patient=patient.pk, status="active"):
        for checkup in agreement.content.checkups:
            if checkup.name == name:
                return checkup.id
    return None


def record(patient: User, name: str, by: User, done_on: date, result: str, *, now, **extra):
    return checkup_flow.record_completion(
        patient_id=patient.pk,
        checkup_id=_checkup_id(patient, name),
        data={"done_on": done_on, "result": result, **extra},
        recorded_by=by.pk,
        recorded_by_role="provider",
        self_reported=False,
        now=now,
    )


def hba1c_result(rng) -> str:
    return f"{rng.uniform(6.2, 8.6):.1f} %"


def record_checkups(person, patient: User, staff: dict, *, today: date, now: datetime) -> None:
    """The tests done in the last quarter; a recall campaign's targets come later."""
    if CheckupCompletion.objects(patient=patient.pk).first() is not None:
        return
    rng = demo_random(f"{person.seed}:checkups")
    pcp = staff["pcp"]
    if T2D in person.plans and person.hba1c == "recent":
        by = staff["endo"] if "endo" in person.specialists else pcp
        done = today - timedelta(days=rng.randint(10, 75))
        record(patient, "HbA1c", by, done, hba1c_result(rng), now=now)
    if T2D in person.plans and person.hba1c == "duplicate":
        record(patient, "HbA1c", pcp, today - timedelta(days=20), "7.1 %", now=now)
        refuse_then_confirm(patient, staff["endo"], today - timedelta(days=6), now=now)
    if HYPERTENSION in person.plans and person.story != "silent":
        done = today - timedelta(days=rng.randint(5, 80))
        record(patient, "Blood pressure review", pcp, done, "reviewed", now=now)


def refuse_then_confirm(patient: User, endo: User, done_on: date, *, now: datetime) -> None:
    """The endocrinologist repeats the GP's HbA1c: refused as a duplicate, then recorded with
    a reason, so the record shows both tests and why."""
    try:
        record(patient, "HbA1c", endo, done_on, "7.3 %", now=now)
    except Conflict:
        pass
    else:
        raise SeedError("a repeated HbA1c within half its interval was not refused")
    record(
        patient,
        "HbA1c",
        endo,
        done_on,
        "7.3 %",
        now=now,
        confirm_duplicate=True,
        reason=DUPLICATE_REASON,
    )
