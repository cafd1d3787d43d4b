"""Alert state moved outside the logging path, and what follows.

    a rule changed or removed (its open alert re-judged or resolved), an alert acknowledged,
    or the no_data worker opening alerts
      → the summary's open-alert counts and `open_alert` flag (`alerts.engine`)
      → panel rows and clinic aggregates, from the summary as that left it

(A log write's alerts are `flows.entries`.)
"""

from datetime import datetime

from api.services.alerts import engine, rules
from api.services.flows import derived


def change_rule(*, patient_id, rule_id: str, data: dict, now: datetime):
    rule, summary = rules.change(patient_id=patient_id, rule_id=rule_id, data=data, now=now)
    _moved(patient_id, summary, now)
    return rule


def delete_rule(*, patient_id, rule_id: str, now: datetime) -> None:
    _moved(patient_id, rules.delete(patient_id=patient_id, rule_id=rule_id, now=now), now)


def acknowledge(*, patient_id, alert_id: str, by, note, now: datetime):
    alert, summary = engine.acknowledge(
        patient_id=patient_id, alert_id=alert_id, by=by, note=note, now=now
    )
    _moved(patient_id, summary, now)
    return alert


def check_no_data(*, now: datetime) -> dict:
    """The worker's run: no_data alerts opened, each patient's views moved once."""
    counts, moved = engine.check_no_data(now=now)
    for patient_id, summary in moved.items():
        _moved(patient_id, summary, now)
    return counts


def _moved(patient_id, summary: dict | None, now: datetime) -> None:
    if summary is not None:
        derived.summary_moved(patient_id, summary, now=now)
