"""What uploads count for in the patient's goals.

- A meter reading (`mbg`) is a log entry of the glucose goal in force, as if typed in.
- A treatment's carbohydrates are a log entry of the carbohydrate goal in force.
- A local day of CGM worn at least 70 % counts as monitored for glucose monitoring goals
  (the rollup period gets `cgm: true`, which `rollups.evaluate` reads as met).

Log entries made here carry a UUID derived from what they come from, so an upload posted
again stores each entry once (the log's own idempotency).
"""

import uuid
from datetime import date, datetime

from api.services.tracking import adherence, measures, summary
from api.services.tracking.entry_input import Author
from api.services.tracking.rollups import RollupChange, rollups

NAMESPACE = uuid.UUID("5f0c2a52-33c8-4c1e-9a59-6d0f4f1f7b0e")


def _goals(patient_id, tz: str | None, measure: str, *, monitoring: bool = False) -> list:
    found = []
    for item in adherence.goals_in_force(patient_id, tz):
        if item.goal.measure != measure or item.last is not None:
            continue
        if monitoring and item.goal.kind != "monitoring":
            continue
        found.append(item)
    return found


def entries_for(
    patient_id, tz: str | None, measure: str, values: list[tuple[str, datetime, float]]
) -> tuple[Author, list[dict]] | None:
    """The log entries (author, items) of (source, occurred_at, value in the canonical unit)
    against the patient's goal of `measure` in force; None when there is no such goal. The
    entry flow stores them as a batch: an entry the log refuses (before the agreement
    started) is left out."""
    goals = _goals(patient_id, tz, measure)
    if not goals or not values:
        return None
    goal = goals[0]
    unit = measures.get(measure).canonical_unit
    items = [
        {
            "id": uuid.uuid5(NAMESPACE, f"{patient_id}:{measure}:{source}"),
            "agreement_id": str(goal.agreement_id),
            "goal_id": goal.goal.id,
            "occurred_at": at,
            "value": value,
            "unit": unit,
            "source": "device",
        }
        for source, at, value in values
    ]
    return Author(patient_id, patient_id, "self"), items


def mark_monitored(patient_id, tz: str | None, days: list[date], *, now: datetime):
    """CGM days worn enough count as monitored for the glucose monitoring goals in force.
    The summary after, when a day's `met` flipped (its figures were recomputed), else None."""
    goals = _goals(patient_id, tz, "blood_glucose", monitoring=True)
    measure = measures.get("blood_glucose")
    changes = []
    for day in days:
        for item in goals:
            if item.first <= day:
                changes.append(RollupChange(patient_id, item.goal, measure, day))
    flipped = False
    for change in changes:
        at = f"p.{change.key}"
        rollups().update_one(
            {"_id": change.id},
            {"$setOnInsert": change.identity(), "$set": {f"{at}.cgm": True}},
            upsert=True,
        )
        # `cgm` alone meets a monitoring goal's period (rollups.evaluate), whatever its
        # counters say; `rev` moves so a concurrent rewrite that saw the period before loses.
        done = rollups().update_one(
            {"_id": change.id, f"{at}.met": {"$ne": True}},
            {"$set": {f"{at}.met": True}, "$inc": {"rev": 1}},
        )
        flipped = flipped or done.modified_count > 0
    if flipped:
        return summary.refresh(patient_id, tz=tz, now=now)
    return None
