"""Log entries: idempotent writes, offline batches, edits with history.

The logging path is a handful of round trips: one agreement read (none when this process
remembers the agreement: `agreement_memory`), one `find_one_and_update` on the patient's
summary (it allocates change sequence numbers and moves the last-log fields in the same
call; what it returns also confirms remembered agreements and, for the patient's own token,
that the token is unrevoked: `identity.session_memory`), one insert, one rollup update; more
only when a day's `met` flips. The client's UUID and a unique index make a replay or a race
store one entry. What follows from a write (alerts, panel, population) is
`api.services.flows.entries`'s.

A sequence number is allocated before its entry is written (see `log_reading.sync`).
Numbers that will never be used (replays, edits that moved an entry to a new number) are
filled with void markers at once, so in practice only a writer in flight holds a reader back.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import transactions
from api.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from api.models.agreement import Agreement
from api.models.log import DELETED, LIVE, VOID, LogEntry
from api.models.user import User
from api.services.common import local_days
from api.services.identity.session_memory import SessionCheck
from api.services.tracking import log_reading
from api.services.tracking import summary as patient_summary
from api.services.tracking.agreement_memory import AgreementLookup, StaleCopy
from api.services.tracking.entry_input import Author, Prepared, find_goal, prepare
from api.services.tracking.rollups import apply_changes, changes_for, rollups

MAX_BATCH = 500
# A replayed id found, then raced by another writer of the same id: give up after this.
STORE_ATTEMPTS = 4  # first write (summary), replayed ids, and a race on either
DUPLICATE_KEY = 11000
T = TypeVar("T")


def entries():
    return LogEntry._get_collection()


# --- numbering and the summary -------------------------------------------------------------


def _allocate(patient_id, docs: list[dict], now: datetime, count: int = 0):
    """Reserve sequence numbers (one per doc, or `count`) and move the summary's last-log
    fields in the same call. Returns (numbers, summary)."""
    count = count or len(docs)
    found = patient_summary.record_entries(patient_id, docs, count, now)
    if found is None:
        raise SummaryMissing()
    if not found.get("tz"):
        found.update(_mirror_profile(patient_id))
    last = found["seq"]
    return list(range(last - count + 1, last + 1)), found


class SummaryMissing(Exception):
    """The patient's first write: the summary (the change counter) does not exist yet."""


def _mirror_profile(patient_id) -> dict:
    """Copy the zone and glucose unit onto the summary (once; the profile flow keeps them)."""
    user = User.objects(pk=patient_id).only("timezone", "glucose_unit").first()
    fields = {"tz": user.timezone if user else "UTC", "glucose_unit": user and user.glucose_unit}
    patient_summary.mirror_profile(patient_id, **fields)
    return fields


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


# --- creating ------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # created, duplicate, conflict
    entry: dict


@dataclass
class Written:
    """What a write did, for the flow that moves what derives from entries."""

    patient_id: ObjectId
    entries: list[dict]  # changed, or found already stored by a replay
    change: str  # created, updated, deleted
    summary: dict  # the summary as the write left it
    refreshed: bool  # whether its adherence figures were recomputed
    now: datetime


def _store(
    author: Author,
    prepared: list[Prepared],
    agreements: AgreementLookup,
    session: SessionCheck | None,
    now: datetime,
):
    """Number, insert and count the entries in one transaction: a failure anywhere (the
    database gone mid-batch) leaves no entry without its rollups, and the client's retry
    stores them once. What follows from them is the flow's, after the commit."""
    known: dict[str, dict] = {}
    for _ in range(STORE_ATTEMPTS):
        try:
            outcomes, summary, refreshed = transactions.run(
                partial(_write, author, prepared, agreements, session, known, now),
                warm=(entries, rollups, patient_summary.summaries),
            )
            break
        except SummaryMissing:
            if session is not None:
                session.settle()  # a revoked token creates nothing, not even the summary
            patient_summary.create(author.patient_id)
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
    agreements.keep(summary.get("agreements_rev", 0))
    if session is not None:
        session.keep()
    # Replays too: the flow runs after the commit, and when it failed (a 503 for stored
    # entries) the client's retry of the same ids is what finishes its work. Each step brings
    # its state in line with the stored entries, so seeing an entry twice is harmless.
    stored = [o.entry for o in outcomes if o.status in ("created", "duplicate")]
    return outcomes, Written(author.patient_id, stored, "created", summary, refreshed, now)


def _is_duplicate(error) -> bool:
    if isinstance(error, DuplicateKeyError):
        return True
    errors = error.details.get("writeErrors") or [{"code": None}]
    return all(e["code"] == DUPLICATE_KEY for e in errors)


def _write(
    author: Author,
    prepared: list[Prepared],
    agreements: AgreementLookup,
    session: SessionCheck | None,
    known: dict,
    now: datetime,
):
    """The transaction's body: entries whose id is `known` are replays (same content) or
    conflicts; the others are numbered, inserted and added to their rollups. The summary
    that numbers them also says whether the agreements they were checked against are
    current (`agreement_memory`) and whether the caller's token may still be trusted
    (`session`)."""
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
    agreements.confirm(summary.get("agreements_rev", 0))
    if session is not None:
        session.confirm(patient_id, summary.get("sessions_rev"))
    for p, seq in zip(fresh, seqs, strict=True):
        p.doc.pop("_id", None)  # set by an aborted attempt's insert
        _place(p.doc, p.goal, seq, summary["tz"])
    if fresh:
        _insert([p.doc for p in fresh])
    goals = {p.goal.id: p.goal for p in fresh}
    created = [(p.doc, 1) for p in fresh]
    if apply_changes(changes_for(created, goals, patient_id)):
        refreshed = patient_summary.refresh(patient_id, tz=summary["tz"], now=now, activity=summary)
        return outcomes, refreshed, True
    return outcomes, summary, False


def _insert(docs: list[dict]) -> None:
    if len(docs) == 1:
        entries().insert_one(docs[0])
    else:
        entries().insert_many(docs)


def _with_agreements(write: Callable[[AgreementLookup], T]) -> T:
    """`write` with the agreements this process remembers; again from fresh reads when one
    of them changed since (the write's own check), or refused an entry (a copy from before a
    revision added its goal would)."""
    remembered = AgreementLookup()
    try:
        return write(remembered)
    except StaleCopy:
        pass
    except ValidationFailed:
        if not remembered.recalled:
            raise
    return write(AgreementLookup(remembered=False))


def create(
    author: Author, item: dict, *, now: datetime, session: SessionCheck | None = None
) -> tuple[dict, bool, Written]:
    """One entry: (entry, created?, what was written). A replay returns the stored entry;
    409 if it differs. `session`: the caller's token, checked by the write."""

    def write(agreements: AgreementLookup):
        prepared = prepare(item, author=author, agreements=agreements, now=now)
        return _store(author, [prepared], agreements, session, now)

    [outcome], written = _with_agreements(write)
    if outcome.status == "conflict":
        raise Conflict(
            "An entry with this id already exists with different content.",
            entry_id=outcome.entry["uid"],
        )
    return outcome.entry, outcome.status == "created", written


def create_batch(
    author: Author, items: list[dict], loader, *, now: datetime, session: SessionCheck | None = None
):
    """Up to MAX_BATCH entries; one result per item, a bad item never sinks the good ones.

    `loader(item)` validates an item's shape (raising ValidationFailed). Returns (results,
    what was written, or None when no item was valid). `session` as for `create`."""
    # One read per agreement serves a whole batch: no remembered copies to confirm.
    agreements = AgreementLookup(remembered=False)
    results: list[dict] = [{} for _ in items]
    prepared, positions, seen = [], [], set()
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
            prepared.append(prepare(item, author=author, agreements=agreements, now=now))
            seen.add(result["id"])
            positions.append(index)
        except ValidationFailed as error:
            result.update(status="error", errors=error.errors)
    written = None
    if prepared:
        outcomes, written = _store(author, prepared, agreements, session, now)
        for index, outcome in zip(positions, outcomes, strict=True):
            if outcome.status == "conflict":
                results[index].update(
                    status="error",
                    errors={"id": ["An entry with this id already exists with different content."]},
                )
            else:
                results[index].update(status=outcome.status, entry=outcome.entry)
    return results, written


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


def update(author: Author, uid: str, changes: dict, *, now: datetime) -> tuple[dict, Written]:
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
    fresh = AgreementLookup(remembered=False)
    prepared = prepare(merged, author=author, agreements=fresh, now=now)
    new = prepared.doc
    tz = entry.get("tz") or "UTC"
    _place(new, prepared.goal, entry["seq"], tz)
    keep = ("occurred_at", "local_date", "period_key", "value", "entered_value", "entered_unit")
    fields = {name: new[name] for name in (*keep, "in_target", "note")}
    updated, summary = _rewrite(author, entry, fields, "edit", now)
    moves = [(entry, -1), (updated, 1)]
    summary = _after_change(author.patient_id, prepared.goal, moves, summary, now)
    return updated, Written(author.patient_id, [updated], "updated", summary, True, now)


def delete(author: Author, uid: str, *, now: datetime) -> Written:
    entry = _writable(author, uid)
    fields = {"state": DELETED, "deleted_at": now}
    updated, summary = _rewrite(author, entry, fields, "delete", now)
    agreement = Agreement.objects(pk=entry["agreement"]).only("content.goals").first()
    goal = find_goal(agreement, entry["goal_id"])
    summary = _after_change(author.patient_id, goal, [(entry, -1)], summary, now)
    return Written(author.patient_id, [updated], "deleted", summary, True, now)


def _after_change(patient_id, goal, moves, summary, now) -> dict:
    apply_changes(changes_for(moves, {goal.id: goal}, patient_id))
    activity = log_reading.activity(patient_id, {goal.id})
    patient_summary.set_activity(patient_id, activity)
    return patient_summary.refresh(patient_id, tz=summary.get("tz"), now=now, activity=activity)
