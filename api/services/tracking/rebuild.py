"""Rebuilding rollups and last-log fields from the live entries (`flask rebuild-adherence`).

The tests check it gives exactly what the incremental path stored.
"""

from datetime import datetime

from pymongo import UpdateOne

from api.models.log import LIVE, LogEntry
from api.services.tracking import adherence, summary
from api.services.tracking.rollups import apply_changes, changes_for, rollups


def rebuild(patient_id, *, now: datetime) -> tuple[int, dict]:
    """Recompute every rollup and the summary of one patient from the live entries.

    Returns (entries read, the summary after). Closed markers are kept; the periods that no
    longer have entries go back to nothing logged.
    """
    tz = adherence.timezone_of(patient_id)
    goals = {item.goal.id: item.goal for item in adherence.goals_in_force(patient_id, tz)}
    entries = list(
        LogEntry._get_collection().find(
            {"patient": patient_id, "state": LIVE},
            {"uid": 1, "goal_id": 1, "local_date": 1, "value": 1, "in_target": 1, "occurred_at": 1},
        )
    )
    known = [e for e in entries if e["goal_id"] in goals]
    changes = changes_for([(e, 1) for e in known], goals, patient_id)
    resets = [
        UpdateOne(
            {"_id": doc["_id"]},
            {"$set": {"p": {k: _bare(period) for k, period in (doc.get("p") or {}).items()}}},
        )
        for doc in rollups().find({"patient": patient_id}, {"p": 1})
    ]
    if resets:
        rollups().bulk_write(resets, ordered=False)
    apply_changes(changes)
    last_by_goal: dict[str, datetime] = {}
    for entry in known:
        goal_id, at = entry["goal_id"], entry["occurred_at"]
        if goal_id not in last_by_goal or at > last_by_goal[goal_id]:
            last_by_goal[goal_id] = at
    outs = [e["occurred_at"] for e in known if e.get("in_target") is False]
    summary.set_activity(
        patient_id,
        {
            "goals": {gid: {"last_at": at} for gid, at in last_by_goal.items()},
            "last_logged_at": max(last_by_goal.values(), default=None),
            "last_out_of_range_at": max(outs, default=None),
        },
    )
    return len(entries), summary.refresh(patient_id, tz=tz, now=now)


def _bare(period: dict) -> dict:
    """A period with nothing counted (no counters are zero), and its closed and CGM markers."""
    # Only glucose monitoring goals' periods carry `cgm`, and for them it alone means met.
    kept = {"met": bool(period.get("cgm"))}
    for marker in ("closed", "cgm"):
        if period.get(marker):
            kept[marker] = True
    return kept


def patients_to_rebuild() -> list:
    """Every patient who has entries or rollups."""
    patients = set(LogEntry._get_collection().distinct("patient"))
    patients |= set(rollups().distinct("patient"))
    return sorted(patients)
