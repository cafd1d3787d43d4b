"""Adherence in the patient's own days: rollups, streaks, the summary and the flags.

Rollups (one per patient, goal and local day, or ISO week for weekly goals) are derived from
the log entries and moved by every write, edit and delete (`apply_changes`). They are filed a
calendar quarter per document (see `Rollup`), so a year's report reads five documents per
goal.
Everything that reports adherence reads rollups, never entries, so its cost does not grow
with years of logs. The current day (or week) counts only once it is met: it is in progress.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from api.db import find_in
from api.errors import ValidationFailed
from api.models.agreement import Agreement
from api.models.log import LIVE, AdherenceSummary, LogEntry, Rollup
from api.models.user import User
from api.services.common import local_days
from api.services.tracking import measures

DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 731
LOW_ADHERENCE_PERCENT = 50.0
NO_RECENT_LOGS_AFTER = timedelta(days=3)
OUT_OF_RANGE_WITHIN = timedelta(days=7)
# What readers of the panel keys need from a summary (api.services.clinic.panel).
SUMMARY_FIELDS = {"adherence_7d": 1, "adherence_30d": 1, "last_logged_at": 1, "tz": 1}
SUMMARY_FIELDS |= {"flags": 1, "panel_key": 1, "open_alerts": 1}
FLAGS = ("low_adherence", "no_recent_logs", "out_of_range", "overdue_checkup", "open_alert")
# CGM triage (tracking.glucose_flags), written with the others under `flags`.
CGM_FLAGS = ("time_very_low", "time_low", "tir_below_70", "tir_drop", "low_wear")
ENDED_STATUSES = ("completed", "revoked")


def rollups():
    return Rollup._get_collection()


def summaries():
    return AdherenceSummary._get_collection()


def rollup_id(patient_id, goal_id: str, quarter: str) -> str:
    return f"{patient_id}:{goal_id}:{quarter}"


def quarter_of(start: date) -> str:
    """The quarter a period is filed under: that of its first day ("YYYY-Qn")."""
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def period_ref(patient_id, goal_id: str, period: str, day: date) -> tuple[str, str]:
    """(rollup document id, period key) of the period holding local day `day`."""
    start = local_days.period_start(day, period)
    return rollup_id(patient_id, goal_id, quarter_of(start)), local_days.period_key(day, period)


# --- targets -------------------------------------------------------------------------------


def _target_bounds(goal, measure) -> tuple[float | None, float | None]:
    """The goal's target as (low, high) in the measure's canonical unit."""
    target = goal.target

    def canonical(v):
        return None if v is None else measures.to_canonical(measure, v, goal.unit)

    if target.op == "at_least":
        return canonical(target.value), None
    if target.op == "at_most":
        return None, canonical(target.value)
    return canonical(target.low), canonical(target.high)


def in_target(goal, measure, value: float) -> bool:
    low, high = _target_bounds(goal, measure)
    return (low is None or value >= low) and (high is None or value <= high)


def reading_in_target(goal, measure, value: float) -> bool | None:
    """For measures where every reading must be in range: whether this one is, else None."""
    if measure.combine != measures.COMBINE_EACH_IN_RANGE:
        return None
    return in_target(goal, measure, value)


def evaluate(goal, measure, rollup: dict) -> tuple[bool, float | None]:
    """(met, value) of a period from its counters; nothing logged is never met. A day of
    CGM worn enough (`cgm`, see glucose_goals) meets a glucose monitoring goal."""
    if rollup.get("cgm") and goal.kind == "monitoring":
        return True, None
    count = rollup.get("count") or 0
    if count <= 0:
        return False, None
    if measure.combine == measures.COMBINE_EACH_IN_RANGE:
        return (rollup.get("out") or 0) == 0, None
    if measure.combine == measures.COMBINE_LAST:
        items = rollup.get("items") or {}
        if not items:
            return False, None
        value = max(items.values(), key=lambda item: item[0])[1]
    elif measure.combine == measures.COMBINE_COUNT:
        value = float(count)
    else:
        value = rollup.get("total") or 0.0
    return in_target(goal, measure, value), value


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


# --- moving rollups ------------------------------------------------------------------------


@dataclass
class RollupChange:
    """What one write, edit or delete does to one rollup."""

    patient_id: ObjectId
    goal: object
    measure: measures.Measure
    day: date
    count: int = 0
    total: float = 0.0
    out: int = 0
    set_items: dict = field(default_factory=dict)
    unset_items: list = field(default_factory=list)

    @property
    def period(self) -> str:
        return self.goal.period

    @property
    def key(self) -> str:
        return local_days.period_key(self.day, self.period)

    @property
    def start(self) -> date:
        return local_days.period_start(self.day, self.period)

    @property
    def id(self) -> str:
        return rollup_id(self.patient_id, self.goal.id, quarter_of(self.start))

    def add(self, entry: dict, sign: int) -> None:
        """Count `entry` in (sign=1) or out (sign=-1) of this period."""
        self.count += sign
        self.total += sign * entry["value"]
        self.out += sign * (entry.get("in_target") is False)
        if self.measure.combine == measures.COMBINE_LAST:
            if sign > 0:
                self.set_items[entry["uid"]] = [entry["occurred_at"], entry["value"]]
            else:
                self.unset_items.append(entry["uid"])

    def identity(self) -> dict:
        """The fields the quarter's document is created with."""
        return {
            "patient": self.patient_id,
            "goal_id": self.goal.id,
            "period": self.period,
            "quarter": quarter_of(self.start),
        }

    def update(self, update: dict) -> dict:
        """Fold this period's moves into `update` (one per document; periods don't overlap)."""
        at = f"p.{self.key}."
        update.setdefault("$setOnInsert", self.identity())
        moves = {"count": self.count, "total": self.total, "out": self.out}
        update.setdefault("$inc", {"rev": 1}).update(
            {f"{at}{name}": moves[name] for name in counters(self.measure)}
        )
        sets = {f"{at}items.{uid}": item for uid, item in self.set_items.items()}
        if sets:
            update.setdefault("$set", {}).update(sets)
        unsets = [uid for uid in self.unset_items if uid not in self.set_items]
        if unsets:
            update.setdefault("$unset", {}).update({f"{at}items.{uid}": "" for uid in unsets})
        # A new period starts as not met (false sorts below true, so a met one stays met).
        update.setdefault("$max", {})[f"{at}met"] = False
        return update


def counters(measure) -> tuple[str, ...]:
    """The counters a period of this measure keeps: what `evaluate` and the series read."""
    if measure.combine == measures.COMBINE_EACH_IN_RANGE:
        return ("count", "out")
    if measure.combine in (measures.COMBINE_LAST, measures.COMBINE_COUNT):
        return ("count",)
    return ("count", "total")


def changes_for(entries: list[tuple[dict, int]], goals: dict, patient_id) -> list[RollupChange]:
    """Group (entry, +1/-1) pairs into one change per period. `goals`: goal id → goal."""
    grouped: dict[tuple[str, str], RollupChange] = {}
    for entry, sign in entries:
        goal = goals[entry["goal_id"]]
        change = RollupChange(
            patient_id,
            goal,
            measures.get(goal.measure),
            date.fromisoformat(entry["local_date"]),
        )
        change = grouped.setdefault((change.id, change.key), change)
        change.add(entry, sign)
    return list(grouped.values())


def _reevaluate(doc: dict, goal, measure) -> dict:
    """The `met`/`value` fields of the document's periods that no longer match their counters.

    Every period is looked at, not only the writer's own: a writer whose rewrite lost the
    `rev` race leaves its flip to the writer that won, which saw its counters too."""
    fields = {}
    for key, period in (doc.get("p") or {}).items():
        met, value = evaluate(goal, measure, period)
        if met != bool(period.get("met")):
            fields[f"p.{key}.met"] = met
        if measure.combine == measures.COMBINE_LAST and value != period.get("value"):
            fields[f"p.{key}.value"] = value
    return fields


def apply_changes(changes: list[RollupChange]) -> bool:
    """Move the periods; rewrite `met`/`value` where they changed. True if any `met` flipped.

    `rev` guards the rewrite: a writer that saw an older state loses to the one that saw the
    newer, so concurrent writers never leave a stale `met` behind.
    """
    if not changes:
        return False
    updates: dict[str, dict] = {}
    goal_of: dict[str, RollupChange] = {}
    for change in changes:
        change.update(updates.setdefault(change.id, {}))
        goal_of[change.id] = change
    if len(updates) == 1:
        [(doc_id, update)] = updates.items()
        after = rollups().find_one_and_update(
            {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        # Racing upserts may apply the change yet return nothing: read what is there.
        after = [after or rollups().find_one({"_id": doc_id})]
    else:
        rollups().bulk_write(
            [UpdateOne({"_id": i}, u, upsert=True) for i, u in updates.items()], ordered=False
        )
        after = list(find_in(rollups(), "_id", list(updates)))
    rewrites, flipped = [], False
    for doc in after:
        change = goal_of[doc["_id"]]
        fields = _reevaluate(doc, change.goal, change.measure)
        flipped = flipped or any(name.endswith(".met") for name in fields)
        if fields:
            rewrites.append(UpdateOne({"_id": doc["_id"], "rev": doc["rev"]}, {"$set": fields}))
    if rewrites:
        rollups().bulk_write(rewrites, ordered=False)
    return flipped


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
    summary = summaries().find_one({"_id": patient_id}, {"tz": 1, "goals": 1}) or {}
    if not summary.get("tz"):
        user = User.objects(pk=patient_id).only("timezone").first()
        summary["tz"] = user.timezone if user else "UTC"
    return summary


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


# --- the summary and its flags -------------------------------------------------------------


_summary_listeners = []


def on_summary_change(listener):
    """Register `listener(patient_id, summary)`, called after the summary's adherence figures,
    flags or check-up schedule were rewritten (clinic population aggregates follow them)."""
    _summary_listeners.append(listener)
    return listener


def summary_changed(patient_id, summary: dict | None = None) -> None:
    """Tell the listeners; writers that hold the summary as written pass it (no second read)."""
    if not _summary_listeners:
        return
    if summary is None:
        summary = summaries().find_one({"_id": patient_id}) or {"_id": patient_id}
    for listener in _summary_listeners:
        listener(patient_id, summary)


def set_flag(patient_id, name: str, on: bool) -> None:
    """Turn one panel flag on or off (check-ups own `overdue_checkup`, alerts `open_alert`)."""
    if name not in FLAGS:
        raise ValueError(f"Unknown flag {name!r}; use one of {', '.join(FLAGS)}.")
    after = summaries().find_one_and_update(
        {"_id": patient_id},
        {"$set": {f"flags.{name}": on}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    summary_changed(patient_id, after)


def _window(items, today: date, days: int, by_key: dict) -> tuple[int, int]:
    counted = met = 0
    first = today - timedelta(days=days - 1)
    for item in items:
        result = goal_adherence(item, first, today, today, by_key)
        counted += result["days"]
        met += result["days_met"]
    return counted, met


def refresh_summary(patient_id, *, tz: str | None, now: datetime) -> dict:
    """Recompute 7- and 30-day adherence and the flags derived from rollups and time."""
    today = local_days.today(now, tz)
    items = goals_in_force(patient_id, tz)
    by_key = _read_rollups(patient_id, today - timedelta(days=29), today)
    days_7, met_7 = _window(items, today, 7, by_key)
    days_30, met_30 = _window(items, today, 30, by_key)
    summary = (
        summaries().find_one({"_id": patient_id}, {"last_logged_at": 1, "last_out_of_range_at": 1})
        or {}
    )
    percent_7 = round(100.0 * met_7 / days_7, 1) if days_7 else None
    last_log = summary.get("last_logged_at")
    last_out = summary.get("last_out_of_range_at")
    fields = {
        "days_7d": days_7,
        "met_7d": met_7,
        "adherence_7d": percent_7,
        "days_30d": days_30,
        "met_30d": met_30,
        "adherence_30d": round(100.0 * met_30 / days_30, 1) if days_30 else None,
        "computed_on": today.isoformat(),
        "updated_at": now,
        "flags.low_adherence": percent_7 is not None and percent_7 < LOW_ADHERENCE_PERCENT,
        "flags.no_recent_logs": bool(items)
        and (last_log is None or now - last_log > NO_RECENT_LOGS_AFTER),
        "flags.out_of_range": last_out is not None and now - last_out <= OUT_OF_RANGE_WITHIN,
    }
    if tz:
        fields["tz"] = tz
    after = summaries().find_one_and_update(
        {"_id": patient_id},
        {"$set": fields},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    summary_changed(patient_id, after)
    return after


def close_day(patient, local_date: date, now: datetime) -> None:
    """Nightly close-out of one local day (idempotent): record missed periods, refresh.

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
    refresh_summary(patient.pk, tz=tz, now=now)


# --- rebuilding from the logs --------------------------------------------------------------


def rebuild(patient_id, *, now: datetime) -> int:
    """Recompute every rollup and the summary of one patient from the live entries.

    Returns the number of entries read. Closed markers are kept; the periods that no longer
    have entries go back to nothing logged.
    """
    tz_source = _profile(patient_id)
    goals = {item.goal.id: item.goal for item in goals_in_force(patient_id, tz_source["tz"])}
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
    summaries().update_one(
        {"_id": patient_id},
        {
            "$set": {
                "goals": {gid: {"last_at": at} for gid, at in last_by_goal.items()},
                "last_logged_at": max(last_by_goal.values(), default=None),
                "last_out_of_range_at": max(outs, default=None),
            }
        },
        upsert=True,
    )
    refresh_summary(patient_id, tz=tz_source["tz"], now=now)
    return len(entries)


def _bare(period: dict) -> dict:
    """A period with nothing counted (no counters are zero), and its closed and CGM markers."""
    # Only glucose monitoring goals' periods carry `cgm`, and for them it alone means met.
    kept = {"met": bool(period.get("cgm"))}
    for marker in ("closed", "cgm"):
        if period.get(marker):
            kept[marker] = True
    return kept


def rebuild_all(*, now: datetime) -> tuple[int, int]:
    """Rebuild every patient who has entries or rollups; (patients, entries) read."""
    patients = set(LogEntry._get_collection().distinct("patient"))
    patients |= set(rollups().distinct("patient"))
    read = sum(rebuild(patient_id, now=now) for patient_id in sorted(patients))
    return len(patients), read
