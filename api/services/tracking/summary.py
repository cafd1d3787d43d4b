"""The per-patient summary (`adherence_summaries`): this module makes every write to it.

One document per patient holds the change counter of sync (`seq`), the last-log fields, the
7- and 30-day adherence, the panel flags, open alerts by severity, the check-up schedule and
the `panel_key` its panel rows were built from. Each writer here returns the summary as it
left it, so the flow that called it can move the panel and the population without a read.
"""

from contextlib import suppress
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from api.models.log import AdherenceSummary
from api.services.common import local_days
from api.services.tracking import adherence, uploaders
from api.services.tracking.rule_digest import SENSOR_MEASURE, rule_digest

LOW_ADHERENCE_PERCENT = 50.0
NO_RECENT_LOGS_AFTER = timedelta(days=3)
# The console's "no data for 7 days" triage bucket; `no_recent_logs` (the panel API's flag)
# keeps its 3 days.
NO_DATA_WEEK_AFTER = timedelta(days=7)
OUT_OF_RANGE_WITHIN = timedelta(days=7)
# What readers of the panel keys need from a summary (api.services.clinic.panel).
SUMMARY_FIELDS = {"adherence_7d": 1, "adherence_30d": 1, "last_logged_at": 1, "tz": 1}
SUMMARY_FIELDS |= {"flags": 1, "panel_key": 1, "open_alerts": 1}
FLAGS = ("low_adherence", "no_recent_logs", "out_of_range", "overdue_checkup", "open_alert")
# CGM triage (tracking.glucose_flags), written with the others under `flags`.
CGM_FLAGS = ("time_very_low", "time_low", "tir_below_70", "tir_drop", "low_wear")


def summaries():
    return AdherenceSummary._get_collection()


def _born() -> dict:
    """What every summary starts with, whichever write creates it: its own sessions revision
    (`session_memory`)."""
    return {"sessions_rev": ObjectId()}


def _creating(update: dict) -> dict:
    """`update`, as an upsert that may create the summary."""
    return {**update, "$setOnInsert": _born()}


def _upsert(patient_id, update: dict) -> None:
    summaries().update_one({"_id": patient_id}, _creating(update), upsert=True)


def _write(patient_id, update: dict, *, upsert: bool = True, projection=None) -> dict | None:
    return summaries().find_one_and_update(
        {"_id": patient_id},
        _creating(update) if upsert else update,
        upsert=upsert,
        projection=projection,
        return_document=ReturnDocument.AFTER,
    )


# --- the logging path ----------------------------------------------------------------------


def create(patient_id) -> None:
    """The patient's first write: outside any transaction (a duplicate key would abort it),
    and never as an upsert of the counter: racing upserts may apply an increment without
    telling either caller."""
    with suppress(DuplicateKeyError):
        summaries().insert_one(
            {
                "_id": patient_id,
                "seq": 0,
                "alert_rules": rule_digest(patient_id),
                **_born(),
            }
        )


def mirror_rules(patient_id) -> None:
    """Copy the patient's alert rules (and their open alerts) where the write paths read
    them with what they read anyway: onto the summary (log entries: with the sequence
    number) and onto the uploaders (CGM readings: with the uploader's key). Called whenever
    a rule or its open alert changes."""
    digest = rule_digest(patient_id)
    _upsert(patient_id, {"$set": {"alert_rules": digest}})
    uploaders.mirror_rules(patient_id, digest.get(SENSOR_MEASURE, []))


def record_entries(patient_id, docs: list[dict], count: int, now: datetime) -> dict | None:
    """Reserve `count` sequence numbers and move the last-log fields by `docs` in one call.
    The summary after it (None before the patient's first write: `create` it first)."""
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
        update["$set"]["flags.no_data_7d"] = False
    if out_of_range is not None:
        update["$max"]["last_out_of_range_at"] = out_of_range
        update["$set"]["flags.out_of_range"] = True
    return _write(patient_id, update, upsert=False, projection={"goals": 0})


def agreements_changed(patient_id) -> None:
    """Move the agreement revision: remembered copies of the patient's agreements are stale
    (`agreement_memory`). Called after the change is stored."""
    _upsert(patient_id, {"$inc": {"agreements_rev": 1}})


def sessions_changed(user_id) -> None:
    """A new sessions revision: tokens remembered unrevoked (`session_memory`) are read for
    again. Called after a revocation of the user's tokens is stored; no summary, no patient."""
    summaries().update_one({"_id": user_id}, {"$set": {"sessions_rev": ObjectId()}})


def mirror_profile(patient_id, *, tz: str | None, glucose_unit: str | None) -> None:
    """The zone and glucose unit, copied so the logging path reads no user."""
    summaries().update_one({"_id": patient_id}, {"$set": {"tz": tz, "glucose_unit": glucose_unit}})


def set_activity(patient_id, fields: dict) -> None:
    """Last-log fields recomputed from the entries (after an edit, delete or rebuild)."""
    _upsert(patient_id, {"$set": fields})


# --- adherence and flags -------------------------------------------------------------------


def refresh(patient_id, *, tz: str | None, now: datetime, activity: dict | None = None) -> dict:
    """Recompute 7- and 30-day adherence and the flags derived from rollups and time.
    `activity`: the last-log fields as the caller's own write left them (else they are read)."""
    today = local_days.today(now, tz)
    items = adherence.goals_in_force(patient_id, tz)
    days_7, met_7, days_30, met_30 = adherence.windows(patient_id, items, today)
    current = activity
    if current is None:
        current = summaries().find_one(
            {"_id": patient_id}, {"last_logged_at": 1, "last_out_of_range_at": 1}
        )
    current = current or {}
    percent_7 = round(100.0 * met_7 / days_7, 1) if days_7 else None
    last_log = current.get("last_logged_at")
    last_out = current.get("last_out_of_range_at")
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
        "flags.no_data_7d": bool(items)
        and (last_log is None or now - last_log > NO_DATA_WEEK_AFTER),
        "flags.out_of_range": last_out is not None and now - last_out <= OUT_OF_RANGE_WITHIN,
    }
    if tz:
        fields["tz"] = tz
    return _write(patient_id, {"$set": fields})


def set_flag(patient_id, name: str, on: bool) -> dict:
    """Turn one panel flag on or off (check-ups own `overdue_checkup`, alerts `open_alert`)."""
    if name not in FLAGS:
        raise ValueError(f"Unknown flag {name!r}; use one of {', '.join(FLAGS)}.")
    return _write(patient_id, {"$set": {f"flags.{name}": on}})


def move_open_alerts(patient_id, deltas: dict) -> dict:
    """Move the open-alert counts by severity, and the `open_alert` flag with them."""
    after = _write(
        patient_id, {"$inc": {f"open_alerts.{severity}": n for severity, n in deltas.items()}}
    )
    raised = sum((after.get("open_alerts") or {}).values()) > 0
    if (after.get("flags") or {}).get("open_alert") is raised:
        return after
    return set_flag(patient_id, "open_alert", raised)


def set_cgm_flags(patient_id, flags: dict[str, bool]) -> dict | None:
    """The CGM triage flags; the summary after if any moved, else None."""
    before = summaries().find_one_and_update(
        {"_id": patient_id},
        _creating({"$set": {f"flags.{name}": on for name, on in flags.items()}}),
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    ) or {"_id": patient_id}
    raised = before.get("flags") or {}
    if all(raised.get(name) is on for name, on in flags.items()):
        return None
    return {**before, "flags": {**raised, **flags}}


def set_checkups(patient_id, schedule: list[dict], *, overdue: bool) -> dict:
    """The check-up schedule (`checkups_due`), the next due date and `overdue_checkup`."""
    return _write(
        patient_id,
        {
            "$set": {
                "next_checkup_due_on": schedule[0]["due_on"] if schedule else None,
                "checkups_due": schedule,
                "flags.overdue_checkup": overdue,
            }
        },
    )


def mark_reviewed(patient_id, fields: dict) -> None:
    """Who last reviewed the patient's record, and when (the panel shows it)."""
    _upsert(patient_id, {"$set": fields})


def set_panel_key(patient_id, key: str) -> None:
    summaries().update_one({"_id": patient_id}, {"$set": {"panel_key": key}})


def delete(patient_id) -> None:
    summaries().delete_one({"_id": patient_id})
