"""Alert rules on CGM readings (measure `sensor_glucose`), evaluated as readings arrive.

A threshold rule's `within` is a duration the breach must last (`PT15M`): the rule is
breached when the newest reading breaches it and so does every reading in the `within`
before it (bounds included), at least two of them: `below 54 mg/dL within PT15M` is the
CGM urgent-low alarm. Without `within`, the newest reading alone decides. The alert resolves
once the newest reading is back in range. A `no_data` rule's `within` (`PT30M`) is the
stale-data alarm: the worker opens it when no reading arrived for that long (engine
`check_no_data`), and the next reading resolves it.

As with log readings, the state follows the newest reading, whatever order readings arrive
in: a burst of 288 back-filled readings is judged once, at its newest, and opens at most one
alert per rule through the engine's one-open-alert-per-rule path. Cost per upload: nothing
when the uploader's copy of the rules shows that none can move (readings in range, no alert
open); otherwise one read of the rules and one of the hour buckets holding the window.
"""

import re
from datetime import UTC, datetime, timedelta

from api.services.alerts import engine
from api.services.tracking import glucose_entries

MEASURE = glucose_entries.SENSOR_MEASURE
_DURATION = re.compile(r"PT(?:(\d{1,2})H)?(?:(\d{1,4})M)?")
MIN_DURATION, MAX_DURATION = timedelta(minutes=5), timedelta(hours=24)
MAX_READINGS = 20


def duration(text: str) -> timedelta:
    """`PT15M`, `PT1H30M` → timedelta; ValueError outside 5 minutes to 24 hours."""
    match = _DURATION.fullmatch(text or "")
    if match is None or not any(match.groups()):
        raise ValueError("Must be an ISO 8601 duration in hours and minutes, such as PT15M.")
    hours, minutes = (int(part or 0) for part in match.groups())
    found = timedelta(hours=hours, minutes=minutes)
    if not MIN_DURATION <= found <= MAX_DURATION:
        raise ValueError("Must be between 5 minutes (PT5M) and 24 hours (PT24H).")
    return found


def _window(rule: dict) -> timedelta:
    return duration(rule["within"]) if rule.get("within") else timedelta(0)


def _recent(patient_id, newest_uploaded: datetime, span: timedelta) -> list[dict]:
    """Sensor readings from `span` before the newest uploaded one to the newest stored,
    newest first, as {uid, value, occurred_at}."""
    low = round((newest_uploaded - span).timestamp() * 1000)
    found = glucose_entries.find(
        patient_id,
        kinds=("sgv",),
        window=glucose_entries.Window(low=low),
        count=glucose_entries.MAX_COUNT,
        now=newest_uploaded,
    )
    return [
        {
            "uid": entry["_id"],
            "value": float(entry["sgv"]),
            "occurred_at": datetime.fromtimestamp(entry["date"] / 1000, UTC),
        }
        for entry in found
    ]


def verdict(rule: dict, recent: list[dict]) -> list[dict] | None:
    """The readings that breach the rule (oldest first), or None when it is not breached."""
    if not recent or not engine.breaches(rule, recent[0]["value"]):
        return None
    span = _window(rule)
    if not span:
        return [recent[0]]
    start = recent[0]["occurred_at"] - span
    window = [r for r in recent if r["occurred_at"] >= start]
    if len(window) < 2 or not all(engine.breaches(rule, r["value"]) for r in window):
        return None
    return list(reversed(window[:MAX_READINGS]))


def _may_move(rule: dict, sensor: list) -> bool:
    if not rule.get("enabled"):
        return False
    if rule["kind"] == "no_data" or rule.get("open_alert"):
        return bool(rule.get("open_alert"))
    return any(engine.breaches(rule, r.value) for r in sensor)


def evaluate(patient_id, fresh: list, *, now: datetime, digest: list | None = None):
    """Bring the patient's CGM alerts in line after `fresh` readings were stored; the summary
    after the last alert moved, or None. `digest` is the uploader's copy of the rules."""
    sensor = [r for r in fresh if r.type == "sgv"]
    if not sensor:
        return None
    if digest is not None and not any(_may_move(rule, sensor) for rule in digest):
        return None
    pending, summary = [], None
    for rule in engine.rules().find({"patient": patient_id, "measure": MEASURE}):
        if not _may_move(rule, sensor):
            continue
        if rule["kind"] == "no_data":
            summary = engine.resolve(rule, now=now, resolution="data_arrived") or summary
        else:
            pending.append(rule)
    if not pending:
        return summary
    span = max(_window(rule) for rule in pending)
    recent = _recent(patient_id, max(r.at for r in sensor), span)
    for rule in pending:
        breaching = verdict(rule, recent)
        moved = None
        if breaching is not None and not rule.get("open_alert"):
            moved = engine.open_alert(rule, level=None, readings=breaching, now=now)
        elif rule.get("open_alert") and not engine.breaches(rule, recent[0]["value"]):
            moved = engine.resolve(rule, now=now, resolution="back_in_range")
        summary = moved or summary
    return summary
