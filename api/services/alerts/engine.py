"""Alerts: evaluating rules against readings, opening, resolving, acknowledging (telling people
is `notices`).

Threshold and zone rules are evaluated in the request that stores, edits or deletes a reading
(`api.services.flows.entries`); no_data rules by the jobs worker (`check_no_data`). A change
that moves a patient's open-alert counts returns their summary as it left it: the caller's
flow moves the panel and the population with it.

An alert's state is a function of the readings, not of the order they arrived in: a rule is
breached when the measure's latest live reading is out of range (for `count` > 1: with at
least `count` out-of-range readings within `within` before it, in the patient's calendar).
What that costs per stored reading, whatever the length of the history:
  - one indexed read of the patient's rules for the measure (nothing more when the
    reading is in range and no alert is open: an in-range reading cannot open an alert);
  - otherwise one indexed read of the latest reading, and one bounded read of the window
    for counted rules; writes only when an alert opens, escalates or resolves.
The unique index on (rule, active) lets one alert per rule be open: two concurrent readings
that both see none open insert one alert between them; the loser does nothing, so the
recipients hear of it once.
"""

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from api import metrics
from api.db import find_in
from api.errors import Conflict, NotFound
from api.models.alert import SEVERITY_RANK, Alert, AlertRule
from api.models.log import LIVE, LogEntry
from api.models.user import User
from api.services.alerts.notices import deliver
from api.services.alerts.reading import object_id
from api.services.alerts.verdicts import breaches, out_of_range, shift, zone_level
from api.services.tracking import glucose_entries
from api.services.tracking import summary as patient_summary

log = logging.getLogger("carepact.alerts")

# A rule created or resolved is looked at by the next no_data run.
CHECK_NOW = datetime(1970, 1, 1, tzinfo=UTC)
MAX_WINDOW_READINGS = 1000
MAX_ALERT_READINGS = 20
_READING = {"uid": 1, "value": 1, "occurred_at": 1, "tz": 1}


def rules():
    return AlertRule._get_collection()


def alerts():
    return Alert._get_collection()


# --- evaluation on the logging path ---------------------------------------------------------


def evaluate(
    patient_id, changed: list[dict], change: str, *, now: datetime, digest: dict | None = None
) -> dict | None:
    """Bring the patient's alerts in line after entries were created, updated or deleted.
    The summary after the last alert moved, or None when none did.

    `digest` is the summary's copy of the patient's rules (`summary.mirror_rules`), as the
    write returned it: when it shows that no rule can change (the common case: readings in
    range, no alert open), the rules are not read at all."""
    by_measure = defaultdict(list)
    for entry in changed:
        by_measure[entry["measure"]].append(entry)
    if digest is not None:
        copies = [r for measure in by_measure for r in digest.get(measure) or []]
        if not any(_may_move(r, by_measure[r["measure"]], change) for r in copies):
            return None
    # By (patient, measure) alone: the embedded server plans a third predicate as a scan.
    found = rules().find({"patient": patient_id, "measure": {"$in": list(by_measure)}})
    pending = defaultdict(list)
    summary = None
    for rule in found:
        if not rule["enabled"]:
            continue
        entries = by_measure[rule["measure"]]
        if rule["kind"] == "no_data":
            if change != "deleted" and rule.get("open_alert"):
                summary = resolve(rule, now=now, resolution="data_arrived") or summary
        elif _worth_evaluating(rule, entries, change):
            pending[rule["measure"]].append(rule)
    for measure, measure_rules in pending.items():
        tz = by_measure[measure][0].get("tz")
        summary = settle(patient_id, measure, measure_rules, tz=tz, now=now) or summary
    return summary


def _may_move(rule: dict, entries: list[dict], change: str) -> bool:
    """Whether these entries may change the rule's alert, judged on the summary's copy."""
    if not rule.get("enabled"):
        return False
    if rule["kind"] == "no_data":
        return change != "deleted" and bool(rule.get("open_alert"))
    return _worth_evaluating(rule, entries, change)


def _worth_evaluating(rule: dict, entries: list[dict], change: str) -> bool:
    """Whether these entries can change the rule's alert (edits and deletions always can)."""
    if change != "created":
        return True
    outside = [out_of_range(rule, e["value"]) for e in entries]
    if not rule.get("open_alert"):
        return any(outside)
    opened_by = rule.get("open_reading_at")
    if opened_by is not None and all(e["occurred_at"] < opened_by for e in entries):
        return False  # back-filled: older than the latest reading, so never the verdict's
    if not all(outside):
        return True  # an in-range reading may close it
    return (
        rule["kind"] == "zone"
        and rule.get("open_level") != "red"
        and any(zone_level(rule, e["value"]) == "red" for e in entries)
    )


def latest_reading(patient_id, measure: str, before: datetime | None = None) -> dict | None:
    """The measure's newest live reading (at or before `before`): one indexed read. CGM
    readings live in their hour buckets, not in the log."""
    if measure == glucose_entries.SENSOR_MEASURE:
        return glucose_entries.newest_reading(patient_id, before)
    query = {"patient": patient_id, "measure": measure, "state": LIVE}
    if before is not None:
        query["occurred_at"] = {"$lte": before}
    return LogEntry._get_collection().find_one(query, _READING, sort=[("occurred_at", DESCENDING)])


def _window(patient_id, measure: str, first: datetime, last: datetime) -> list[dict]:
    cursor = (
        LogEntry._get_collection()
        .find(
            {
                "patient": patient_id,
                "measure": measure,
                "state": LIVE,
                "occurred_at": {"$gte": first, "$lte": last},
            },
            _READING,
        )
        .sort("occurred_at", DESCENDING)
        .limit(MAX_WINDOW_READINGS)
    )
    return list(cursor)


def settle(patient_id, measure: str, measure_rules: list[dict], *, tz, now: datetime):
    """Open, escalate or resolve each rule's alert from the measure's latest readings; the
    summary after the last alert moved, or None."""
    latest = latest_reading(patient_id, measure)
    starts = {}
    if latest is not None:
        for rule in measure_rules:
            if (
                rule["kind"] == "threshold"
                and rule["count"] > 1
                and breaches(rule, latest["value"])
            ):
                starts[rule["_id"]] = shift(latest["occurred_at"], rule["within"], tz, -1)
    window = (
        _window(patient_id, measure, min(starts.values()), latest["occurred_at"]) if starts else []
    )
    summary = None
    for rule in measure_rules:
        level, readings = _verdict(rule, latest, window, starts.get(rule["_id"]))
        moved = None
        if readings is None:
            if rule.get("open_alert"):
                moved = resolve(rule, now=now, resolution="back_in_range")
        elif not rule.get("open_alert"):
            moved = open_alert(rule, level=level, readings=readings, now=now)
        elif level == "red" and rule.get("open_level") == "yellow":
            moved = escalate(rule, readings=readings, now=now)
        summary = moved or summary
    return summary


def _verdict(rule, latest, window, start) -> tuple[str | None, list | None]:
    """(zone level, readings that breach) or (None, None) when the rule is not breached."""
    if latest is None or not out_of_range(rule, latest["value"]):
        return None, None
    if rule["kind"] == "zone":
        return zone_level(rule, latest["value"]), [latest]
    if rule["count"] == 1:
        return None, [latest]
    outside = [r for r in window if r["occurred_at"] >= start and breaches(rule, r["value"])]
    if len(outside) < rule["count"]:
        return None, None
    return None, list(reversed(outside[: rule["count"]]))


# --- opening, escalating, resolving ---------------------------------------------------------


def _reading(doc: dict) -> dict:
    return {"uid": doc.get("uid"), "value": doc["value"], "occurred_at": doc["occurred_at"]}


def open_alert(rule: dict, *, level: str | None, readings: list[dict], now: datetime):
    """Open the rule's alert unless one is open already; tell the rule's recipients once.
    The summary after, or None when it was open already."""
    severity = "urgent" if level == "red" else rule["severity"]
    alert = {
        "_id": ObjectId(),
        "patient": rule["patient"],
        "rule": rule["_id"],
        "measure": rule["measure"],
        "kind": rule["kind"],
        "severity": severity,
        "rank": SEVERITY_RANK[severity],
        "status": "open",
        "active": True,
        "opened_at": now,
        "readings": [_reading(r) for r in readings],
        "unit": rule["unit"],
        "advice": rule.get("advice"),
        "notify": rule["notify"],
    }
    if level is not None:
        alert["level"] = level
    try:
        alerts().insert_one(alert)
    except DuplicateKeyError:
        # Opened meanwhile by a concurrent reading (it tells everyone); keep the hint true.
        existing = alerts().find_one({"rule": rule["_id"], "active": True}, {"level": 1})
        if existing is not None:
            _point(rule["_id"], existing["_id"], existing.get("level"), reading_at=None)
            patient_summary.mirror_rules(rule["patient"])
        return None
    _point(
        rule["_id"],
        alert["_id"],
        level,
        reading_at=readings[-1]["occurred_at"] if readings else None,
    )
    patient_summary.mirror_rules(rule["patient"])
    summary = _count(rule["patient"], {severity: 1})
    metrics.ALERTS_OPENED.labels(severity).inc()
    opened = {"alert_id": str(alert["_id"]), "severity": severity, "kind": rule["kind"]}
    log.info("alert opened", extra={"fields": opened})
    deliver(alert, rule, now=now)
    return summary


def _point(rule_id, alert_id, level, *, reading_at) -> None:
    opened = {"open_alert": alert_id, "open_level": level, "open_reading_at": reading_at}
    rules().update_one({"_id": rule_id}, {"$set": {**opened, "check_at": None}})


def escalate(rule: dict, *, readings: list[dict], now: datetime) -> dict | None:
    """A zone alert that went from yellow to red becomes urgent, and is told again."""
    before = alerts().find_one_and_update(
        {"rule": rule["_id"], "active": True, "level": "yellow"},
        {
            "$set": {"level": "red", "severity": "urgent", "rank": SEVERITY_RANK["urgent"]},
            "$push": {
                "readings": {
                    "$each": [_reading(r) for r in readings],
                    "$slice": -MAX_ALERT_READINGS,
                }
            },
        },
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    rules().update_one({"_id": rule["_id"]}, {"$set": {"open_level": "red"}})
    patient_summary.mirror_rules(rule["patient"])
    summary = None
    if before["status"] == "open":
        summary = _count(rule["patient"], {before["severity"]: -1, "urgent": 1})
    escalated = {**before, "level": "red", "severity": "urgent"}
    deliver(escalated, rule, now=now, key_suffix=":red")
    return summary


def resolve(rule: dict, *, now: datetime, resolution: str) -> dict | None:
    """Close the rule's active alert (it may fire again later); the summary after, if the
    open-alert counts moved."""
    before = alerts().find_one_and_update(
        {"rule": rule["_id"], "active": True},
        {
            "$set": {"status": "resolved", "resolved_at": now, "resolution": resolution},
            "$unset": {"active": ""},
        },
        projection={"status": 1, "severity": 1},
    )
    hint = before["_id"] if before else rule.get("open_alert")
    rules().update_one(
        {"_id": rule["_id"], "open_alert": hint},
        {
            "$unset": {"open_alert": "", "open_level": "", "open_reading_at": ""},
            "$set": {"check_at": CHECK_NOW if rule["kind"] == "no_data" else None},
        },
    )
    patient_summary.mirror_rules(rule["patient"])
    if before is not None and before["status"] == "open":
        return _count(rule["patient"], {before["severity"]: -1})
    return None


def _count(patient_id, deltas: dict) -> dict:
    """Move the summary's open-alert counts by severity, and its `open_alert` panel flag."""
    return patient_summary.move_open_alerts(patient_id, deltas)


# --- no_data: the worker --------------------------------------------------------------------


def check_no_data(*, now: datetime, limit: int = 5000) -> tuple[dict, dict]:
    """Open a no_data alert for each rule whose measure was not logged within its period.

    Only rules whose `check_at` has come are read, from the (kind, check_at) index: a rule
    with recent data is put off until its period could have run out (one look per period
    however often readings arrive), so a run costs the rules due, not every rule there is;
    with none due, one index probe that examines nothing. The worker runs it every minute,
    so an alarm opens within a minute of its period running out.
    Returns (counts, patient id → summary after, for those whose open alerts moved).
    """
    due = list(rules().find({"kind": "no_data", "check_at": {"$lte": now}}).limit(limit))
    if not due:
        return {"rules_checked": 0, "alerts_opened": 0, "postponed": 0}, {}
    zones = {
        user["_id"]: user.get("timezone")
        for user in find_in(
            User._get_collection(), "_id", {r["patient"] for r in due}, {"timezone": 1}
        )
    }
    opened = postponed = 0
    moved = {}
    for rule in due:
        latest = latest_reading(rule["patient"], rule["measure"], before=now)
        since = latest["occurred_at"] if latest else rule["created_at"]
        deadline = shift(since, rule["within"], zones.get(rule["patient"]), 1)
        if now > deadline:
            after = open_alert(rule, level=None, readings=[], now=now)
            if after is not None:
                opened += 1
                moved[rule["patient"]] = after
        else:
            rules().update_one(
                {"_id": rule["_id"], "check_at": rule["check_at"]},
                {"$set": {"check_at": deadline + timedelta(seconds=1)}},
            )
            postponed += 1
    counts = {"rules_checked": len(due), "alerts_opened": opened, "postponed": postponed}
    return counts, moved


# --- acknowledging ---------------------------------------------------------------------------


def acknowledge(*, patient_id, alert_id: str, by, note: str | None, now: datetime):
    """An open alert becomes acknowledged (who, when, note); it stays until resolved.
    Returns (the alert, the summary after)."""
    oid = object_id(alert_id)
    changes = {"status": "acknowledged", "acknowledged_by": by, "acknowledged_at": now}
    if note is not None:
        changes["note"] = note
    before = alerts().find_one_and_update(
        {"_id": oid, "patient": patient_id, "status": "open"},
        {"$set": changes},
        projection={"severity": 1},
    )
    if before is None:
        current = Alert.objects(pk=oid, patient=patient_id).only("status").first()
        if current is None:
            raise NotFound()
        raise Conflict(
            f"This alert is {current.status}; only an open alert can be acknowledged.",
            current_status=current.status,
        )
    after = _count(patient_id, {before["severity"]: -1})
    return Alert.objects(pk=oid).first(), after
