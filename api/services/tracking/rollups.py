"""Rollups: one period (a local day, or an ISO week for weekly goals) per goal, moved by `$inc`.

Rollups are derived from the log entries and moved by every write, edit and delete
(`apply_changes`). They are filed a calendar quarter per document (see `Rollup`), so a year's
report reads five documents per goal. `met` is rewritten only when it flips, guarded by the
document's `rev`.
"""

from dataclasses import dataclass, field
from datetime import date

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from api.db import find_in
from api.models.log import Rollup
from api.services.common import local_days
from api.services.tracking import measures


def rollups():
    return Rollup._get_collection()


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
