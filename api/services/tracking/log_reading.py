"""Reading log entries: one entry, a listing, sync by change sequence, the client's view.

Sync reads changes in `seq` order. A sequence number is allocated before its entry is
written, so a reader may see seq 7 before seq 6 lands: it stops at such a hole unless the
hole is older than `SYNC_GRACE` (its writer died: every database call of a write is bounded
by the socket timeout, far below the grace, even on a loaded server).
"""

from datetime import datetime, timedelta

from pymongo import DESCENDING

from api.errors import NotFound
from api.models.log import DELETED, LIVE, VOID, AdherenceSummary, LogEntry
from api.models.user import User
from api.services.tracking import measures

SYNC_GRACE = timedelta(minutes=5)


def display_prefs(patient_id) -> dict:
    """The zone and glucose unit (from the summary's mirror of the profile)."""
    summary = AdherenceSummary._get_collection().find_one(
        {"_id": patient_id}, {"tz": 1, "glucose_unit": 1}
    )
    if summary and summary.get("tz"):
        return summary
    user = User.objects(pk=patient_id).only("timezone", "glucose_unit").first()
    return {"tz": user.timezone if user else "UTC", "glucose_unit": user and user.glucose_unit}


def get(patient_id, uid: str) -> dict:
    entry = LogEntry._get_collection().find_one(
        {"patient": patient_id, "uid": uid, "state": {"$ne": VOID}}
    )
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
        LogEntry._get_collection()
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


def activity(patient_id, goal_ids: set[str]) -> dict:
    """The summary's last-log fields (and those of `goal_ids`) from the live entries: after an
    edit or a delete, which may have taken away the newest one."""
    live = {"patient": patient_id, "state": LIVE}
    newest_first = [("occurred_at", DESCENDING)]
    newest = LogEntry._get_collection().find_one(live, {"occurred_at": 1}, sort=newest_first)
    out = next(out_of_range_newest_first(live, {"occurred_at": 1}), None)
    fields = {
        "last_logged_at": newest and newest["occurred_at"],
        "last_out_of_range_at": out and out["occurred_at"],
    }
    for goal_id in goal_ids:
        last = LogEntry._get_collection().find_one(
            {**live, "goal_id": goal_id}, {"occurred_at": 1}, sort=newest_first
        )
        fields[f"goals.{goal_id}.last_at"] = last and last["occurred_at"]
    return fields


def out_of_range_newest_first(live: dict, projection: dict):
    """The live entries of `live` (a patient's query) that were out of range, newest first.

    Walked through the (patient, state, occurred_at) index and filtered here: an `in_target`
    predicate in the query makes the embedded server scan the whole collection."""
    cursor = LogEntry._get_collection().find(live, {**projection, "in_target": 1})
    for entry in cursor.sort("occurred_at", DESCENDING).batch_size(200):
        if entry.get("in_target") is False:
            yield entry
