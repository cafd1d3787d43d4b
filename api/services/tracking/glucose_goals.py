"""What uploads count for in the patient's goals.

- A meter reading (`mbg`) is a log entry of the glucose goal in force, as if typed in.
- A treatment's carbohydrates are a log entry of the carbohydrate goal in force.
- A local day of CGM worn at least 70 % counts as monitored for glucose monitoring goals
  (the rollup period gets `cgm: true`, which `adherence.evaluate` reads as met).

Log entries made here carry a UUID derived from what they come from, so an upload posted
again stores each entry once (the log's own idempotency).
"""

import uuid
from datetime import date, datetime

from api.services.tracking import adherence, logs, measures

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


def log_entries(
    patient_id,
    tz: str | None,
    measure: str,
    values: list[tuple[str, datetime, float]],
    *,
    now: datetime,
) -> int:
    """Log (source, occurred_at, value in the canonical unit) against the patient's goal of
    `measure` in force; returns how many were stored new. Nothing when there is no such goal;
    an entry the log refuses (before the agreement started) is left out."""
    goals = _goals(patient_id, tz, measure)
    if not goals or not values:
        return 0
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
    author = logs.Author(patient_id, patient_id, "self")
    results, _ = logs.create_batch(author, items, lambda item: item, now=now)
    return sum(r.get("status") == "created" for r in results)


def mark_monitored(patient_id, tz: str | None, days: list[date], *, now: datetime) -> None:
    """CGM days worn enough count as monitored for the glucose monitoring goals in force."""
    goals = _goals(patient_id, tz, "blood_glucose", monitoring=True)
    measure = measures.get("blood_glucose")
    changes = []
    for day in days:
        for item in goals:
            if item.first <= day:
                changes.append(adherence.RollupChange(patient_id, item.goal, measure, day))
    flipped = False
    for change in changes:
        at = f"p.{change.key}"
        adherence.rollups().update_one(
            {"_id": change.id},
            {"$setOnInsert": change.identity(), "$set": {f"{at}.cgm": True}},
            upsert=True,
        )
        # `cgm` alone meets a monitoring goal's period (adherence.evaluate), whatever its
        # counters say; `rev` moves so a concurrent rewrite that saw the period before loses.
        done = adherence.rollups().update_one(
            {"_id": change.id, f"{at}.met": {"$ne": True}},
            {"$set": {f"{at}.met": True}, "$inc": {"rev": 1}},
        )
        flipped = flipped or done.modified_count > 0
    if flipped:
        adherence.refresh_summary(patient_id, tz=tz, now=now)
