"""Reading CGM entries back as Nightscout shows them: newest first, a date range, a count.

The hour buckets are read newest first through the (patient, hour) index, and reading stops
once `count` entries (and the one before them, for the delta) are in hand.
"""

import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.services.tracking import glucose

DEFAULT_SPAN = timedelta(days=4)
DEFAULT_COUNT = 10
MAX_COUNT = 100_000
DELTA_WITHIN_MS = 15 * 60 * 1000
# The measure CGM readings are, for alert rules (log entries never carry it).
SENSOR_MEASURE = "sensor_glucose"


def entry_id(patient_id, kind: str, date_ms: int) -> str:
    """The `_id` clients see: stable for (patient, type, date), so a re-post answers the same."""
    digest = hashlib.sha256(f"{patient_id}:{kind}:{date_ms}".encode()).hexdigest()
    return digest[:24]


def date_string(date_ms: int) -> str:
    at = datetime.fromtimestamp(date_ms / 1000, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Window:
    """Inclusive bounds in ms since the epoch (None: open)."""

    low: int | None = None
    high: int | None = None

    def holds(self, date_ms: int) -> bool:
        return (self.low is None or date_ms >= self.low) and (
            self.high is None or date_ms <= self.high
        )


def _hour_floor(date_ms: int) -> datetime:
    return datetime.fromtimestamp((date_ms - date_ms % glucose.HOUR_MS) / 1000, UTC)


def find(patient_id, *, kinds: tuple[str, ...], window: Window, count: int, now: datetime):
    """Entries of `kinds` in `window`, newest first, at most `count` (plus the one before the
    oldest sensor reading, for its delta)."""
    if window.low is None and window.high is None:
        window = Window(low=round((now - DEFAULT_SPAN).timestamp() * 1000))
    hours = {}
    if window.low is not None:
        hours["$gte"] = _hour_floor(window.low)
    if window.high is not None:
        hours["$lte"] = _hour_floor(window.high)
    projection = {glucose.FIELD_OF[k]: 1 for k in kinds} | {"dev": 1, "hour": 1}
    cursor = buckets_newest_first(patient_id, hours, projection)
    found: list[dict] = []
    for bucket in cursor:
        hour_ms = round(bucket["hour"].timestamp() * 1000)
        in_hour = []
        for kind in kinds:
            for key, stored in (bucket.get(glucose.FIELD_OF[kind]) or {}).items():
                date_ms = hour_ms + int(key)
                if window.holds(date_ms):
                    in_hour.append((date_ms, kind, stored))
        in_hour.sort(reverse=True)
        found.extend(
            present(patient_id, kind, date_ms, stored, bucket.get("dev"))
            for date_ms, kind, stored in in_hour
        )
        if len(found) > count:
            break
    _deltas(found)
    return found[:count]


def buckets_newest_first(patient_id, hours: dict, projection: dict):
    query = {"patient": patient_id}
    if hours:
        query["hour"] = hours
    return glucose.buckets().find(query, projection).sort("hour", -1).batch_size(48)


def present(patient_id, kind: str, date_ms: int, stored, device: str | None) -> dict:
    entry = {
        "_id": entry_id(patient_id, kind, date_ms),
        "type": kind,
        "date": date_ms,
        "dateString": date_string(date_ms),
        "device": device,
    }
    fields = glucose.unpack(kind, stored)
    if kind == "cal":
        return {**entry, **fields}
    value = fields["value"]
    entry[kind] = int(value) if value == int(value) else value
    if kind == "sgv":
        entry["direction"] = glucose.DIRECTIONS[fields["trend"]]
        entry["trend"] = fields["trend"]
        entry["noise"] = fields["noise"]
        entry["units"] = "mg/dL"
    return entry


def _deltas(entries: list[dict]) -> None:
    """Each sensor reading's change from the one before it (within 15 minutes), as Nightscout
    clients show it."""
    sensor = [e for e in entries if e["type"] == "sgv"]
    for newer, older in itertools.pairwise(sensor):
        if newer["date"] - older["date"] <= DELTA_WITHIN_MS:
            newer["delta"] = round(newer["sgv"] - older["sgv"], 1)
        else:
            newer["delta"] = None
    if sensor:
        sensor[-1].setdefault("delta", None)


def newest_reading(patient_id, before: datetime | None = None) -> dict | None:
    """The newest sensor reading at or before `before`, as {uid, value, occurred_at} (the
    alert engine's shape of a reading)."""
    high = round(before.timestamp() * 1000) if before is not None else None
    found = find(
        patient_id,
        kinds=("sgv",),
        window=Window(low=0, high=high),
        count=1,
        now=before or datetime.now(UTC),
    )
    if not found:
        return None
    return {
        "uid": found[0]["_id"],
        "value": float(found[0]["sgv"]),
        "occurred_at": datetime.fromtimestamp(found[0]["date"] / 1000, UTC),
    }
