"""Adherence in the patient's own days: goals in force, series, streaks, the nightly close.

Everything that reports adherence reads rollups, never entries, so its cost does not grow
with years of logs. The current day (or week) counts only once it is met: it is in progress.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bson import ObjectId
from pymongo import UpdateOne

from api.db import find_in
from api.errors import ValidationFailed
from api.models.agreement import Agreement
from api.models.log import AdherenceSummary
from api.models.user import User
from api.services.common import local_days
from api.services.tracking import measures
from api.services.tracking.rollups import RollupChange, period_ref, quarter_of, rollups

DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 731
ENDED_STATUSES = ("completed", "revoked")


def _display_value(goal, measure, rollup: dict) -> float | None:
    if measure.combine == measures.COMBINE_EACH_IN_RANGE or not rollup.get("count"):
        return None
    if measure.combine == measures.COMBINE_LAST:
        value = rollup.get("value")
    elif measure.combine == measures.COMBINE_COUNT:
        value = float(rollup["count"])
    else:
        value = rollup.get("total") or 0.0
    if value is None:
        return None
    return round(measures.from_canonical(measure, value, goal.unit), 3)


# --- goals in force ------------------------------------------------------------------------


@dataclass
class GoalInForce:
    agreement_id: ObjectId
    goal: object
    first: date  # the local day the agreement started
    last: date | None  # the local day it ended, if it has


def goals_in_force(patient_id, tz: str | None) -> list[GoalInForce]:
    """Goals of the patient's active agreements and of those that have ended."""
    found = []
    agreements = Agreement.objects(patient=patient_id, status__in=("active", *ENDED_STATUSES)).only(
        "content.goals", "active_since", "ended_at", "status"
    )
    for agreement in agreements:
        if agreement.active_since is None:
            continue
        first = local_days.local_date(agreement.active_since, tz)
        last = None
        if agreement.status in ENDED_STATUSES and agreement.ended_at is not None:
            last = local_days.local_date(agreement.ended_at, tz)
        found.extend(GoalInForce(agreement.pk, g, first, last) for g in agreement.content.goals)
    return found


# --- reading adherence ---------------------------------------------------------------------


def goal_adherence(item: GoalInForce, first: date, last: date, today: date, by_key: dict):
    """Series, counts and streaks of one goal over the local days [first, last]."""
    goal = item.goal
    measure = measures.get(goal.measure)
    first = max(first, item.first)
    last = min(last, today, item.last or last)
    current = local_days.period_start(today, goal.period)
    series, days, days_met = [], 0, 0
    for start in local_days.periods(first, last, goal.period) if first <= last else []:
        key = local_days.period_key(start, goal.period)
        rollup = by_key.get((goal.id, key), {})
        met = bool(rollup.get("met"))
        in_progress = start == current
        if met or not in_progress:
            days += 1
            days_met += met
        series.append(
            {
                "date": start,
                "key": key,
                "met": met,
                "value": _display_value(goal, measure, rollup),
                "count": rollup.get("count") or 0,
                "in_progress": in_progress,
            }
        )
    return {
        "days": days,
        "days_met": days_met,
        "percent": round(100.0 * days_met / days, 1) if days else None,
        "current_streak": _current_streak(series),
        "longest_streak": _longest_streak(series),
        "series": series,
    }


def _current_streak(series: list[dict]) -> int:
    streak = 0
    for index, point in enumerate(reversed(series)):
        if point["met"]:
            streak += 1
        elif not (index == 0 and point["in_progress"]):
            break
    return streak


def _longest_streak(series: list[dict]) -> int:
    longest = run = 0
    for point in series:
        run = run + 1 if point["met"] else 0
        longest = max(longest, run)
    return longest


def _read_rollups(patient_id, first: date, last: date) -> dict:
    """(goal id, period key) → period, for the quarters that hold [first, last]."""
    cursor = rollups().find(
        {
            "patient": patient_id,
            "quarter": {
                "$gte": quarter_of(local_days.week_start(first)),
                "$lte": quarter_of(last),
            },
        },
    )
    return {
        (doc["goal_id"], key): period
        for doc in cursor
        for key, period in (doc.get("p") or {}).items()
    }


def _profile(patient_id) -> dict:
    """The summary (zone, last logs per goal); the zone from the profile if not yet mirrored."""
    summary = (
        AdherenceSummary._get_collection().find_one({"_id": patient_id}, {"tz": 1, "goals": 1})
        or {}
    )
    if not summary.get("tz"):
        user = User.objects(pk=patient_id).only("timezone").first()
        summary["tz"] = user.timezone if user else "UTC"
    return summary


def timezone_of(patient_id) -> str:
    return _profile(patient_id)["tz"]


def report(patient_id, *, first: date | None, last: date | None, now: datetime) -> dict:
    """GET .../adherence: per goal days, days_met, percent, streaks, last log and series."""
    profile = _profile(patient_id)
    tz = profile["tz"]
    today = local_days.today(now, tz)
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed({"from": ["Must be on or before `to`."]})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValidationFailed({"from": [f"The range may span at most {MAX_RANGE_DAYS} days."]})
    by_key = _read_rollups(patient_id, first, last)
    goals = []
    for item in goals_in_force(patient_id, tz):
        activity = (profile.get("goals") or {}).get(item.goal.id) or {}
        goals.append(
            {
                "agreement_id": str(item.agreement_id),
                "goal_id": item.goal.id,
                "title": item.goal.title,
                "measure": item.goal.measure,
                "unit": item.goal.unit,
                "period": item.goal.period,
                "last_logged_at": activity.get("last_at"),
                **goal_adherence(item, first, last, today, by_key),
            }
        )
    return {"from": first, "to": last, "today": today, "timezone": tz, "goals": goals}


def goal_met(patient_id, goal, local_date: date) -> bool:
    """Whether `goal` is met on that local day (for a weekly goal: in that ISO week)."""
    ref = period_ref(patient_id, goal.id, goal.period, local_date)
    return ref in met_among([ref])


def met_among(refs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (document id, period key) pairs among `refs` whose period is met."""
    keys = {key for _, key in refs}
    projection = {f"p.{key}.met": 1 for key in keys}
    met = set()
    for doc in find_in(rollups(), "_id", {doc_id for doc_id, _ in refs}, projection):
        met |= {(doc["_id"], k) for k, period in (doc.get("p") or {}).items() if period.get("met")}
    return met & set(refs)


# --- the summary's windows ----------------------------------------------------------------


def _window(items, today: date, days: int, by_key: dict) -> tuple[int, int]:
    counted = met = 0
    first = today - timedelta(days=days - 1)
    for item in items:
        result = goal_adherence(item, first, today, today, by_key)
        counted += result["days"]
        met += result["days_met"]
    return counted, met


def windows(patient_id, items: list[GoalInForce], today: date) -> tuple[int, int, int, int]:
    """(days, days met) over the last 7 and the last 30 local days, today in progress."""
    by_key = _read_rollups(patient_id, today - timedelta(days=29), today)
    return (*_window(items, today, 7, by_key), *_window(items, today, 30, by_key))


def close_day(patient, local_date: date, now: datetime) -> None:
    """Nightly close-out of one local day (idempotent): record missed periods (the flow
    refreshes the summary).

    Weekly goals are closed on the week's last day (Sunday).
    """
    tz = patient.timezone
    closing = []
    for item in goals_in_force(patient.pk, tz):
        if local_date < item.first or (item.last and local_date > item.last):
            continue
        if item.goal.period == local_days.WEEK and local_date.isoweekday() != 7:
            continue
        change = RollupChange(patient.pk, item.goal, measures.get(item.goal.measure), local_date)
        at = f"p.{change.key}."
        update = {
            "$setOnInsert": change.identity(),
            "$set": {f"{at}closed": True},
        }
        closing.append(UpdateOne({"_id": change.id}, update, upsert=True))
    if closing:
        rollups().bulk_write(closing, ordered=False)
