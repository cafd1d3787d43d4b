"""Log entries: idempotent writes, offline batches, edits with history, and sync.

The logging path is a handful of round trips: one agreement read, one `find_one_and_update`
on the patient's summary (it allocates change sequence numbers and moves the last-log
fields in the same call), one insert, one rollup update; two more only when a day's `met`
flips. The client's UUID and a unique index make a replay or a race store one entry.

Sync reads changes in `seq` order. A sequence number is allocated before its entry is
written, so a reader may see seq 7 before seq 6 lands: it stops at such a hole unless the
hole is older than `SYNC_GRACE` (its writer died: every database call of a write is bounded
by the socket timeout, far below the grace, even on a loaded server). Numbers that will
never be used (replays, edits that moved an entry to a new number) are filled with void
markers at once, so in practice only a writer in flight holds a reader back.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import transactions
from api.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from api.models.agreement import Agreement, AgreementVersion
from api.models.log import DELETED, LIVE, VOID, LogEntry
from api.models.user import User
from api.services.common import local_days
from api.services.identity import profiles
from api.services.tracking import adherence, measures, uploaders

CLOCK_SKEW = timedelta(minutes=5)
SYNC_GRACE = timedelta(minutes=5)
MAX_BATCH = 500
# A replayed id found, then raced by another writer of the same id: give up after this.
STORE_ATTEMPTS = 4  # first write (summary), replayed ids, and a race on either
DUPLICATE_KEY = 11000
IN_FORCE = ("active", "completed", "revoked")

_listeners: list[Callable] = []


def on_entries_change(listener: Callable) -> Callable:
    """Register `listener(patient_id, entries, change, summary)`: called once per write with
    every entry it changed, or found already stored by a replay (a batch of 500 is one call),
    so a listener can fold its reads. `summary` is the patient's summary as the write left it
    (`SUMMARY_FIELDS` at least)."""
    _listeners.append(listener)
    return listener


def _notify(patient_id, changed: list[dict], change: str, summary: dict) -> None:
    if changed:
        for listener in _listeners:
            listener(patient_id, changed, change, summary)


def entries():
    return LogEntry._get_collection()


@dataclass(frozen=True)
class Author:
    """Who writes: the patient, a caregiver for them, or a provider on the team."""

    patient_id: ObjectId
    caller_id: ObjectId
    relation: str

    @classmethod
    def of(cls, scope) -> "Author":
        return cls(scope.patient_id, scope.caller.id, scope.relation)

    def source(self, requested: str | None) -> str:
        return "provider" if self.relation == "team" else (requested or "app")

    @property
    def recorded_by(self) -> ObjectId | None:
        return None if self.relation == "self" else self.caller_id


@dataclass
class Prepared:
    """A validated entry, ready to be numbered and stored."""

    doc: dict
    goal: object


# --- validation ----------------------------------------------------------------------------


def _agreement(patient_id, agreement_id: str, cache: dict) -> Agreement:
    if agreement_id not in cache:
        try:
            found = (
                Agreement.objects(pk=ObjectId(agreement_id), patient=patient_id)
                .only("status", "active_since", "ended_at", "content.goals")
                .first()
            )
        except (InvalidId, TypeError):
            found = None
        cache[agreement_id] = found
    agreement = cache[agreement_id]
    if agreement is None:
        raise field_error("agreement_id", "No agreement with this id.")
    if agreement.status not in IN_FORCE or agreement.active_since is None:
        raise field_error("agreement_id", f"This agreement is {agreement.status}, not active.")
    return agreement


def _goal(agreement: Agreement, goal_id: str):
    """The goal in the agreement's current content, or in an earlier accepted version."""
    goal = agreement.goal(goal_id)
    if goal is not None:
        return goal
    for version in AgreementVersion.objects(agreement=agreement.pk).order_by("-number"):
        goal = next((g for g in version.content.goals if g.id == goal_id), None)
        if goal is not None:
            return goal
    raise field_error("goal_id", "This agreement has no goal with this id.")


def _check_time(agreement: Agreement, occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + CLOCK_SKEW:
        raise field_error("occurred_at", "Must not be in the future.")
    if occurred_at < agreement.active_since:
        raise field_error("occurred_at", "Must not be before the agreement started.")
    if agreement.ended_at is not None and occurred_at >= agreement.ended_at:
        raise field_error("occurred_at", "Must not be after the agreement ended.")


def _canonical(measure, goal, value: float, unit: str | None) -> tuple[float, str]:
    unit = unit or goal.unit
    try:
        canonical = measures.to_canonical(measure, value, unit)
    except measures.UnknownUnit as error:
        raise field_error("unit", str(error)) from None
    low, high = measure.entry_range
    if not low <= canonical <= high:
        shown = [round(measures.from_canonical(measure, v, unit), 2) for v in (low, high)]
        raise field_error(
            "value", f"Must be between {shown[0]:g} and {shown[1]:g} {unit} for {measure.name}."
        )
    return canonical, unit


def _body_hash(fields: dict) -> str:
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare(item: dict, *, author: Author, cache: dict, now: datetime) -> Prepared:
    """Validate one entry against its agreement and goal; raise 422 naming the field."""
    agreement = _agreement(author.patient_id, item["agreement_id"], cache)
    goal = _goal(agreement, item["goal_id"])
    occurred_at = item["occurred_at"]
    _check_time(agreement, occurred_at, now)
    measure = measures.get(goal.measure)
    value, unit = _canonical(measure, goal, item["value"], item.get("unit"))
    source = author.source(item.get("source"))
    note = item.get("note")
    body = {
        "agreement_id": item["agreement_id"],
        "goal_id": goal.id,
        "occurred_at": occurred_at.isoformat(timespec="milliseconds"),
        "value": item["value"],
        "unit": unit,
        "note": note,
        "source": source,
    }
    doc = {
        "patient": author.patient_id,
        "uid": str(item.get("id") or uuid.uuid4()),
        "state": LIVE,
        "agreement": agreement.pk,
        "goal_id": goal.id,
        "measure": measure.name,
        "occurred_at": occurred_at,
        "value": value,
        "entered_value": item["value"],
        "entered_unit": unit,
        "in_target": adherence.reading_in_target(goal, measure, value),
        "note": note,
        "source": source,
        "recorded_by": author.recorded_by,
        "body_hash": _body_hash(body),
        "history": [],
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
    }
    return Prepared(doc, goal)


# --- numbering and the summary -------------------------------------------------------------


def _allocate(patient_id, docs: list[dict], now: datetime, count: int = 0):
    """Reserve sequence numbers (one per doc, or `count`) and move the summary's last-log
    fields in the same call. Returns (numbers, summary)."""
    count = count or len(docs)
    newest: dict[str, datetime] = {}
    out_of_range = None
    for doc in docs:
        at = doc["occurred_at"]
        path = f"goals.{doc['goal_id']}.last_at"
        newest[path] = max(newest.get(path, at), at)
        newest["last_logged_at"] = max(newest.get("last_logged_at", at), at)
        if doc.get("in_target") is False:
            out_of_range = max(out_of_range or at, at)
    update = {"$inc": {"seq": count}, "$set": {"updated_at": now}}
    if newest:
        update["$max"] = newest
        update["$set"]["flags.no_recent_logs"] = False
    if out_of_range is not None:
        update["$max"]["last_out_of_range_at"] = out_of_range
        update["$set"]["flags.out_of_range"] = True
    summary = _bump(patient_id, update)
    if summary is None:
        raise SummaryMissing()
    if not summary.get("tz"):
        summary.update(_mirror_profile(patient_id))
    last = summary["seq"]
    return list(range(last - count + 1, last + 1)), summary


class SummaryMissing(Exception):
    """The patient's first write: the summary (the change counter) does not exist yet."""


def _create_summary(patient_id) -> None:
    """Outside any transaction (a duplicate key would abort it), and never as an upsert of
    the counter: racing upserts may apply an increment without telling either caller."""
    with suppress(DuplicateKeyError):
        adherence.summaries().insert_one({"_id": patient_id, "seq": 0})


def _bump(patient_id, update: dict) -> dict | None:
    return adherence.summaries().find_one_and_update(
        {"_id": patient_id},
        update,
        return_document=ReturnDocument.AFTER,
        projection={"seq": 1, "glucose_unit": 1, **adherence.SUMMARY_FIELDS},
    )


def _mirror_profile(patient_id) -> dict:
    """Copy the zone and glucose unit onto the summary (once; the listener keeps them)."""
    user = User.objects(pk=patient_id).only("timezone", "glucose_unit").first()
    fields = {"tz": user.timezone if user else "UTC", "glucose_unit": user and user.glucose_unit}
    adherence.summaries().update_one({"_id": patient_id}, {"$set": fields})
    return fields


@profiles.on_profile_change
def _profile_changed(user: User) -> None:
    if user.role == "patient":
        adherence.summaries().update_one(
            {"_id": user.pk}, {"$set": {"tz": user.timezone, "glucose_unit": user.glucose_unit}}
        )
        uploaders.zone_changed(user.pk, user.timezone)


def _void(patient_id, seqs: list[int], now: datetime) -> None:
    if seqs:
        entries().insert_many(
            [
                {
                    "patient": patient_id,
                    "uid": f"~void:{s}",
                    "seq": s,
                    "state": VOID,
                    "changed_at": now,
                }
                for s in seqs
            ],
            ordered=False,
        )


def _place(doc: dict, goal, seq: int, tz: str) -> None:
    """Number the entry and fix the local day (and period) it counts for, in today's zone."""
    day = local_days.local_date(doc["occurred_at"], tz)
    doc["seq"] = seq
    doc["tz"] = tz
    doc["local_date"] = day.isoformat()
    doc["period_key"] = local_days.period_key(day, goal.period)


def _recompute_activity(patient_id, goal_ids: set[str]) -> None:
    """After an edit, delete or refused replay: last-log fields from the live entries."""
    live = {"patient": patient_id, "state": LIVE}
    newest = entries().find_one(live, {"occurred_at": 1}, sort=[("occurred_at", DESCENDING)])
    out = entries().find_one(
        {**live, "in_target": False}, {"occurred_at": 1}, sort=[("occurred_at", DESCENDING)]
    )
    fields = {
        "last_logged_at": newest and newest["occurred_at"],
        "last_out_of_range_at": out and out["occurred_at"],
    }
    for goal_id in goal_ids:
        last = entries().find_one(
            {**live, "goal_id": goal_id}, {"occurred_at": 1}, sort=[("occurred_at", DESCENDING)]
        )
        fields[f"goals.{goal_id}.last_at"] = last and last["occurred_at"]
    adherence.summaries().update_one({"_id": patient_id}, {"$set": fields})


# --- creating ------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # created, duplicate, conflict
    entry: dict


def _store(author: Author, prepared: list[Prepared], now: datetime) -> tuple[list[Outcome], dict]:
    """Number, insert and count the entries in one transaction: a failure anywhere (the
    database gone mid-batch) leaves no entry without its rollups, and the client's retry
    stores them once. Listeners run after the commit."""
    known: dict[str, dict] = {}
    for _ in range(STORE_ATTEMPTS):
        try:
            outcomes, summary = transactions.run(
                partial(_write, author, prepared, known, now),
                warm=(entries, adherence.rollups, adherence.summaries),
            )
            break
        except SummaryMissing:
            _create_summary(author.patient_id)
        except (DuplicateKeyError, BulkWriteError) as error:
            # A replayed id aborts the transaction: learn which ids exist, write the rest.
            if not _is_duplicate(error):
                raise
            uids = [p.doc["uid"] for p in prepared]
            known = {
                d["uid"]: d
                for d in entries().find({"patient": author.patient_id, "uid": {"$in": uids}})
            }
    else:
        raise Conflict("Entries with these ids are being written by another request; retry.")
    # Replays too: the listeners run after the commit, and when one failed (a 503 for stored
    # entries) the client's retry of the same ids is what finishes their work. Each listener
    # brings its state in line with the stored entries, so hearing an entry twice is harmless.
    stored = [o.entry for o in outcomes if o.status in ("created", "duplicate")]
    _notify(author.patient_id, stored, "created", summary)
    return outcomes, summary


def _is_duplicate(error) -> bool:
    if isinstance(error, DuplicateKeyError):
        return True
    errors = error.details.get("writeErrors") or [{"code": None}]
    return all(e["code"] == DUPLICATE_KEY for e in errors)


def _write(author: Author, prepared: list[Prepared], known: dict, now: datetime):
    """The transaction's body: entries whose id is `known` are replays (same content) or
    conflicts; the others are numbered, inserted and added to their rollups."""
    patient_id = author.patient_id
    outcomes, fresh = [], []
    for p in prepared:
        existing = known.get(p.doc["uid"])
        if existing is None:
            outcomes.append(Outcome("created", p.doc))
            fresh.append(p)
        else:
            same = existing.get("body_hash") == p.doc["body_hash"]
            outcomes.append(Outcome("duplicate" if same else "conflict", existing))
    seqs, summary = _allocate(patient_id, [p.doc for p in fresh], now)
    for p, seq in zip(fresh, seqs, strict=True):
        p.doc.pop("_id", None)  # set by an aborted attempt's insert
        _place(p.doc, p.goal, seq, summary["tz"])
    if fresh:
        _insert([p.doc for p in fresh])
    goals = {p.goal.id: p.goal for p in fresh}
    created = [(p.doc, 1) for p in fresh]
    if adherence.apply_changes(adherence.changes_for(created, goals, patient_id)):
        summary = adherence.refresh_summary(patient_id, tz=summary["tz"], now=now)
    return outcomes, summary


def _insert(docs: list[dict]) -> None:
    if len(docs) == 1:
        entries().insert_one(docs[0])
    else:
        entries().insert_many(docs)


def create(author: Author, item: dict, *, now: datetime) -> tuple[dict, bool, dict]:
    """One entry: (entry, created?, summary). A replay returns the stored entry; 409 if it
    differs."""
    prepared = prepare(item, author=author, cache={}, now=now)
    [outcome], summary = _store(author, [prepared], now)
    if outcome.status == "conflict":
        raise Conflict(
            "An entry with this id already exists with different content.",
            entry_id=outcome.entry["uid"],
        )
    return outcome.entry, outcome.status == "created", summary


def create_batch(author: Author, items: list[dict], loader, *, now: datetime) -> tuple[list, dict]:
    """Up to MAX_BATCH entries; one result per item, a bad item never sinks the good ones.

    `loader(item)` validates an item's shape (raising ValidationFailed)."""
    results: list[dict] = [{} for _ in items]
    prepared, positions, cache, seen = [], [], {}, set()
    for index, raw in enumerate(items):
        result = results[index]
        result["index"] = index
        try:
            item = loader(raw)
            if item.get("id") is None:
                raise field_error("id", "Each entry of a batch needs its own id (a UUID).")
            result["id"] = str(item["id"])
            if result["id"] in seen:
                raise field_error("id", "This id appears more than once in the batch.")
            prepared.append(prepare(item, author=author, cache=cache, now=now))
            seen.add(result["id"])
            positions.append(index)
        except ValidationFailed as error:
            result.update(status="error", errors=error.errors)
    summary = {}
    if prepared:
        outcomes, summary = _store(author, prepared, now)
        for index, outcome in zip(positions, outcomes, strict=True):
            if outcome.status == "conflict":
                results[index].update(
                    status="error",
                    errors={"id": ["An entry with this id already exists with different content."]},
                )
            else:
                results[index].update(status=outcome.status, entry=outcome.entry)
    return results, summary


# --- editing and deleting ------------------------------------------------------------------


def _writable(author: Author, uid: str) -> dict:
    if author.relation == "team":
        raise Forbidden("Only the patient or their caregiver may change a log entry.")
    entry = entries().find_one({"patient": author.patient_id, "uid": uid, "state": LIVE})
    if entry is None:
        raise NotFound()
    return entry


def _revision(entry: dict, author: Author, change: str, now: datetime) -> dict:
    return {
        "value": entry["value"],
        "entered_value": entry["entered_value"],
        "entered_unit": entry["entered_unit"],
        "occurred_at": entry["occurred_at"],
        "note": entry.get("note"),
        "changed_at": now,
        "changed_by": author.caller_id,
        "change": change,
    }


def _rewrite(author: Author, entry: dict, fields: dict, change: str, now: datetime):
    """Give the entry a new sequence number with `fields`, keeping its old state in history."""
    patient_id = author.patient_id
    [seq], summary = _allocate(patient_id, [], now, count=1)
    fields = {**fields, "seq": seq, "updated_at": now, "changed_at": now}
    updated = entries().find_one_and_update(
        {"_id": entry["_id"], "seq": entry["seq"]},
        {"$set": fields, "$push": {"history": _revision(entry, author, change, now)}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        _void(patient_id, [seq], now)
        raise Conflict("The entry changed while you were editing it; reload and retry.")
    _void(patient_id, [entry["seq"]], now)
    return updated, summary


def update(author: Author, uid: str, changes: dict, *, now: datetime) -> tuple[dict, dict]:
    entry = _writable(author, uid)
    merged = {
        "agreement_id": str(entry["agreement"]),
        "goal_id": entry["goal_id"],
        "occurred_at": changes.get("occurred_at", entry["occurred_at"]),
        "value": changes.get("value", entry["entered_value"]),
        "unit": changes.get("unit", entry["entered_unit"]),
        "note": changes.get("note", entry.get("note")),
        "source": entry.get("source"),
    }
    prepared = prepare(merged, author=author, cache={}, now=now)
    new = prepared.doc
    tz = entry.get("tz") or "UTC"
    _place(new, prepared.goal, entry["seq"], tz)
    keep = ("occurred_at", "local_date", "period_key", "value", "entered_value", "entered_unit")
    fields = {name: new[name] for name in (*keep, "in_target", "note")}
    updated, summary = _rewrite(author, entry, fields, "edit", now)
    moves = [(entry, -1), (updated, 1)]
    summary = _after_change(author.patient_id, prepared.goal, moves, summary, now)
    _notify(author.patient_id, [updated], "updated", summary)
    return updated, summary


def delete(author: Author, uid: str, *, now: datetime) -> None:
    entry = _writable(author, uid)
    fields = {"state": DELETED, "deleted_at": now}
    updated, summary = _rewrite(author, entry, fields, "delete", now)
    agreement = Agreement.objects(pk=entry["agreement"]).only("content.goals").first()
    goal = _goal(agreement, entry["goal_id"])
    summary = _after_change(author.patient_id, goal, [(entry, -1)], summary, now)
    _notify(author.patient_id, [updated], "deleted", summary)


def _after_change(patient_id, goal, moves, summary, now) -> dict:
    adherence.apply_changes(adherence.changes_for(moves, {goal.id: goal}, patient_id))
    _recompute_activity(patient_id, {goal.id})
    return adherence.refresh_summary(patient_id, tz=summary.get("tz"), now=now)


# --- reading -------------------------------------------------------------------------------


def display_prefs(patient_id) -> dict:
    """The zone and glucose unit (from the summary's mirror of the profile)."""
    summary = adherence.summaries().find_one({"_id": patient_id}, {"tz": 1, "glucose_unit": 1})
    if summary and summary.get("tz"):
        return summary
    user = User.objects(pk=patient_id).only("timezone", "glucose_unit").first()
    return {"tz": user.timezone if user else "UTC", "glucose_unit": user and user.glucose_unit}


def get(patient_id, uid: str) -> dict:
    entry = entries().find_one({"patient": patient_id, "uid": uid, "state": {"$ne": VOID}})
    if entry is None:
        raise NotFound()
    return entry


def listing(patient_id, *, goal_id=None, first=None, last=None):
    """Live entries, newest first (a QuerySet of raw documents)."""
    query = {"patient": patient_id, "state": LIVE}
    if goal_id:
        query["goal_id"] = goal_id
    if first:
        query["occurred_at__gte"] = first
    if last:
        query["occurred_at__lte"] = last
    return LogEntry.objects(**query).order_by("-occurred_at").as_pymongo()


def sync(patient_id, *, since: int, limit: int, now: datetime) -> dict:
    """Every change after cursor `since`, once, in order; tombstones for deletions."""
    cursor = (
        entries()
        .find({"patient": patient_id, "seq": {"$gt": since}})
        .sort("seq", 1)
        .limit(limit + 1)
    )
    changes, position, complete = [], since, True
    for doc in cursor:
        if len(changes) >= limit:
            complete = False
            break
        if doc["seq"] != position + 1 and doc["changed_at"] > now - SYNC_GRACE:
            # A lower number may still be being written: deliver it first next time.
            complete = False
            break
        position = doc["seq"]
        if doc["state"] != VOID:
            changes.append(doc)
    return {"changes": changes, "next_cursor": str(position), "has_more": not complete}


def present(entry: dict, glucose_unit: str | None) -> dict:
    """The entry as clients see it: value in the patient's preferred unit, as typed too."""
    measure = measures.get(entry["measure"])
    unit = entry["entered_unit"]
    if measure.name == "blood_glucose" and glucose_unit:
        unit = glucose_unit
    return {
        **entry,
        "id": entry["uid"],
        "agreement_id": str(entry["agreement"]),
        "value": round(measures.from_canonical(measure, entry["value"], unit), 2),
        "unit": unit,
        "canonical_value": entry["value"],
        "canonical_unit": measure.canonical_unit,
        "recorded_by": entry.get("recorded_by") and str(entry["recorded_by"]),
        "deleted": entry["state"] == DELETED,
        "history": [
            {**h, "changed_by": h.get("changed_by") and str(h["changed_by"])}
            for h in entry.get("history", [])
        ],
    }
