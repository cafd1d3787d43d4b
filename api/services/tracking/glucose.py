"""CGM readings: checking Nightscout entries, storing them in hour buckets, and moving the
patient-day histograms the metrics are read from.

An upload of any size costs, in one transaction, one read of the hour buckets it touches,
one bulk write adding the readings whose keys are new (a re-posted reading keeps its stored
value), one bulk write per local day it adds sensor readings to, and the commit: a reading is
counted exactly once, whatever is re-posted, raced or retried. (No `findAndModify`: the
embedded server scans the collection for it, so its cost would grow with the history.)

A sensor reading is stored as one integer: its value in tenths of mg/dL, plus 10,000 times
Nightscout's trend number and 100,000 times its noise level (13 bytes a reading in BSON,
where a subdocument would take about 40: a patient-year stays near 1.5 MB).
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from pymongo import UpdateOne

from api import transactions
from api.models.glucose import GlucoseBucket, GlucoseDay
from api.services.common import local_days

TYPES = ("sgv", "mbg", "cal")
FIELD_OF = {"sgv": "s", "mbg": "m", "cal": "c"}
MIN_MGDL, MAX_MGDL = 20.0, 600.0
FUTURE_SKEW = timedelta(minutes=5)
BEFORE_UPLOADER = timedelta(days=30)
MAX_ITEM_BYTES = 4096
# Nightscout's trend numbers: the index of the direction's name.
DIRECTIONS = (
    "NONE",
    "DoubleUp",
    "SingleUp",
    "FortyFiveUp",
    "Flat",
    "FortyFiveDown",
    "SingleDown",
    "DoubleDown",
    "NOT COMPUTABLE",
    "RATE OUT OF RANGE",
)
TREND_FACTOR = 10_000
NOISE_FACTOR = 100_000
MAX_NOISE = 9
SLOT_MINUTES = 5  # one reading every five minutes is full wear
MONITORED_WEAR = 0.70
HOUR_MS = 3_600_000


def buckets():
    return GlucoseBucket._get_collection()


def days():
    return GlucoseDay._get_collection()


# --- one reading ---------------------------------------------------------------------------


@dataclass
class Reading:
    type: str
    date_ms: int
    value: float | None = None  # mg/dL (sgv, mbg)
    trend: int = 0
    noise: int = 0
    calibration: dict = field(default_factory=dict)
    device: str | None = None

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.date_ms / 1000, UTC)

    @property
    def hour_ms(self) -> int:
        return self.date_ms - self.date_ms % HOUR_MS

    @property
    def key(self) -> str:
        return str(self.date_ms % HOUR_MS)

    def packed(self):
        if self.type == "cal":
            return self.calibration
        tenths = round(self.value * 10)
        if self.type == "mbg":
            return tenths
        return tenths + TREND_FACTOR * self.trend + NOISE_FACTOR * self.noise


def unpack(kind: str, stored) -> dict:
    """The fields of a stored value: {value (mg/dL), trend, noise} or the calibration."""
    if kind == "cal":
        return dict(stored)
    stored = int(stored)
    return {
        "value": (stored % TREND_FACTOR) / 10,
        "trend": (stored // TREND_FACTOR) % 10,
        "noise": stored // NOISE_FACTOR,
    }


class Refused(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("refused")
        self.errors = errors


def _number(item: dict, name: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused({name: ["Must be a number."]})
    return float(value)


def parse_instant(text: str, name: str) -> datetime:
    """An ISO 8601 instant with an offset (a trailing Z too), or Refused naming `name`."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused({name: ["Must be an ISO 8601 instant."]}) from None
    if parsed.tzinfo is None:
        raise Refused({name: ["Must carry an offset."]})
    return parsed.astimezone(UTC)


def _date_ms(item: dict) -> int:
    raw = _number(item, "date")
    if raw is None:
        text = item.get("dateString")
        if not isinstance(text, str):
            raise Refused({"date": ["Required: milliseconds since the epoch."]})
        return round(parse_instant(text, "dateString").timestamp() * 1000)
    if not 0 < raw < 1e14:
        raise Refused({"date": ["Must be milliseconds since the epoch."]})
    return round(raw)


def _glucose(item: dict, name: str) -> float:
    value = _number(item, name)
    if value is None:
        raise Refused({name: ["Required."]})
    if not MIN_MGDL <= value <= MAX_MGDL:
        raise Refused({name: [f"Must be between {MIN_MGDL:g} and {MAX_MGDL:g} mg/dL."]})
    return round(value, 1)


def _trend(item: dict) -> int:
    direction = item.get("direction")
    if isinstance(direction, str) and direction in DIRECTIONS:
        return DIRECTIONS.index(direction)
    trend = item.get("trend")
    if isinstance(trend, int) and not isinstance(trend, bool) and 0 <= trend < len(DIRECTIONS):
        return trend
    return 0


def _noise(item: dict) -> int:
    noise = item.get("noise")
    if isinstance(noise, int) and not isinstance(noise, bool) and 0 <= noise <= MAX_NOISE:
        return noise
    return 0


def _calibration(item: dict) -> dict:
    found = {}
    for name in ("slope", "intercept", "scale"):
        value = _number(item, name)
        if value is None:
            raise Refused({name: ["Required for a calibration."]})
        found[name] = value
    return found


def parse(item, *, earliest: datetime, now: datetime, size: int) -> Reading:
    """One posted entry as a Reading, or Refused naming the fields."""
    if not isinstance(item, dict):
        raise Refused({"_item": ["Each entry must be an object."]})
    if size > MAX_ITEM_BYTES:
        raise Refused({"_item": [f"An entry may be at most {MAX_ITEM_BYTES} bytes."]})
    kind = item.get("type")
    if kind not in TYPES:
        raise Refused({"type": [f"Must be one of: {', '.join(TYPES)}."]})
    date_ms = _date_ms(item)
    at = datetime.fromtimestamp(date_ms / 1000, UTC)
    if at > now + FUTURE_SKEW:
        raise Refused({"date": ["Must not be more than 5 minutes in the future."]})
    if at < earliest:
        raise Refused({"date": ["Too old: before the uploader was created, less 30 days."]})
    device = item.get("device")
    reading = Reading(kind, date_ms, device=device[:100] if isinstance(device, str) else None)
    if kind == "cal":
        reading.calibration = _calibration(item)
    else:
        reading.value = _glucose(item, kind)
        if kind == "sgv":
            reading.trend, reading.noise = _trend(item), _noise(item)
    return reading


def earliest_accepted(uploader_created_at: datetime) -> datetime:
    return uploader_created_at - BEFORE_UPLOADER


# --- storing -------------------------------------------------------------------------------


def bucket_id(patient_id, hour_ms: int) -> str:
    return f"{patient_id}:{hour_ms // 1000}"


def day_id(patient_id, day: date | str) -> str:
    return f"{patient_id}:{day}"


SLOT_MS = SLOT_MINUTES * 60_000


def _stored_hours(patient_id, hours: list[int]) -> dict[int, dict]:
    """The stored readings of these hours (one read): hour → {field: {key: value}}."""
    ids = {bucket_id(patient_id, hour_ms): hour_ms for hour_ms in hours}
    found = buckets().find({"_id": {"$in": list(ids)}}, {"s": 1, "m": 1, "c": 1})
    return {ids[doc["_id"]]: doc for doc in found}


def _bucket_write(patient_id, hour_ms: int, fresh: list[Reading]) -> UpdateOne:
    fields = {f"{FIELD_OF[r.type]}.{r.key}": r.packed() for r in fresh}
    device = next((r.device for r in reversed(fresh) if r.device), None)
    if device:
        fields["dev"] = device
    return UpdateOne(
        {"_id": bucket_id(patient_id, hour_ms)},
        {
            "$set": fields,
            "$setOnInsert": {
                "patient": patient_id,
                "hour": datetime.fromtimestamp(hour_ms / 1000, UTC),
            },
        },
        upsert=True,
    )


def slots_in_day(day: date, tz: str | None) -> int:
    """Five-minute slots in a local day: 288, or 276 and 300 on the days clocks change."""
    zone = local_days.zone(tz)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    minutes = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60
    return round(minutes / SLOT_MINUTES)


def _day_writes(patient_id, fresh: list[Reading], worn: set[int], tz) -> dict[str, list]:
    """Per local day: the `$inc` of its readings (`n`), newly worn slots (`w`) and histogram
    bins, then the flag `monitored` set if the day's wear has just reached 70 %."""
    updates: dict[str, dict] = {}
    zone = local_days.zone(tz)
    for reading in fresh:
        if reading.type != "sgv":
            continue
        local = reading.at.astimezone(zone)
        day = local.date().isoformat()
        update = updates.setdefault(
            day,
            {
                "$inc": {"n": 0, "w": 0},
                "$setOnInsert": {"patient": patient_id, "day": day, "tz": tz},
            },
        )
        update["$inc"]["n"] += 1
        slot = reading.date_ms // SLOT_MS
        if slot in worn:
            worn.discard(slot)
            update["$inc"]["w"] += 1
        path = f"h.{local.hour:02d}.{round(reading.value * 10)}"
        update["$inc"][path] = update["$inc"].get(path, 0) + 1
    writes = {}
    for day, update in updates.items():
        enough = math.ceil(MONITORED_WEAR * slots_in_day(date.fromisoformat(day), tz))
        doc_id = day_id(patient_id, day)
        writes[day] = [
            UpdateOne({"_id": doc_id}, update, upsert=True),
            UpdateOne(
                {"_id": doc_id, "monitored": {"$ne": True}, "w": {"$gte": enough}},
                {"$set": {"monitored": True}},
            ),
        ]
    return writes


def _write(patient_id, by_hour: dict[int, list[Reading]], tz) -> tuple[list, list[date]]:
    """The transaction's body: (fresh readings, the days that have just become monitored).

    Read, then written: under the transaction's snapshot a concurrent writer of the same
    hour conflicts and retries, so a reading (and a worn slot) is counted once."""
    stored = _stored_hours(patient_id, list(by_hour))
    fresh, bucket_writes, worn = [], [], set()
    for hour_ms, readings in sorted(by_hour.items()):
        before = stored.get(hour_ms, {})
        new = [r for r in readings if r.key not in (before.get(FIELD_OF[r.type]) or {})]
        if not new:
            continue
        fresh.extend(new)
        bucket_writes.append(_bucket_write(patient_id, hour_ms, new))
        taken = {(hour_ms + int(key)) // SLOT_MS for key in before.get("s") or {}}
        worn |= {r.date_ms // SLOT_MS for r in new if r.type == "sgv"} - taken
    if bucket_writes:
        buckets().bulk_write(bucket_writes, ordered=False)
    monitored = []
    for day, writes in _day_writes(patient_id, fresh, worn, tz).items():
        result = days().bulk_write(writes, ordered=True)
        # The count update modifies the day (or creates it); a second change is the flag.
        if result.modified_count > (0 if result.upserted_count else 1):
            monitored.append(date.fromisoformat(day))
    return fresh, monitored


@dataclass
class Stored:
    fresh: list[Reading]
    newly_monitored: list[date]


def store(patient_id, readings: list[Reading], *, tz: str | None) -> Stored:
    """Store readings (deduplicated by type and date); returns the ones that were new and the
    local days whose wear has just reached 70 %."""
    by_hour: dict[int, list[Reading]] = {}
    seen = set()
    for reading in readings:
        if (reading.type, reading.date_ms) not in seen:
            seen.add((reading.type, reading.date_ms))
            by_hour.setdefault(reading.hour_ms, []).append(reading)
    if not by_hour:
        return Stored([], [])
    fresh, monitored = transactions.run(
        partial(_write, patient_id, by_hour, tz), warm=(buckets, days)
    )
    return Stored(fresh, monitored)
