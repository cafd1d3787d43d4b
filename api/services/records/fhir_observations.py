"""Observation search: a patient's live log entries in date order, a page at a time.

The embedded server materialises every index entry a query's range matches before it applies
`limit`, so a page is never read as "the patient's entries, sorted, limit 100": that costs a
year of entries for a patient with a year of data. The page is read through time windows on
the (patient, state, occurred_at) index instead, starting at the cursor and widening (1, 2,
4 times...) until the page is full or the search's bounds are reached; each window matches about
what it returns, so a page costs what it holds, whatever the history behind it. The next
page starts where this one stopped, from the window size that filled it (keyset paging: the
cursor is the last entry's (occurred_at, _id), never an offset).

`total` of a search by patient alone comes from the adherence rollups, which count every live
entry per goal and period (a handful of documents a year); a search narrowed by code,
category or date counts the entries it matches.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from api.models.agreement import Agreement
from api.models.glucose import Uploader
from api.models.log import LIVE
from api.services.records import fhir_glucose
from api.services.tracking import entry_input, glucose, glucose_entries, logs
from api.services.tracking import rollups as rollup_store

FIRST_WINDOW = timedelta(days=1)
MIN_WINDOW = timedelta(minutes=1)
TICK = timedelta(milliseconds=1)
MAX_WINDOW = timedelta(days=3660)
CLOCK_SKEW = entry_input.CLOCK_SKEW


@dataclass(frozen=True)
class Position:
    """Where a page stopped: the last entry returned, and the window that reached it."""

    at: datetime
    entry_id: object
    window: timedelta


@dataclass
class Search:
    patient_id: object
    measures: list[str] | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    descending: bool = True
    # CGM sensor readings (hour buckets, not log entries) are searched too.
    cgm: bool = True

    def filters(self) -> list[dict]:
        """One query per measure: the embedded server plans `measure: {$in: [...]}` as a
        collection scan, one measure at a time uses the (patient, measure, ...) index."""
        query = {"patient": self.patient_id, "state": LIVE}
        if self.measures is None:
            return [query]
        return [{**query, "measure": name} for name in self.measures]

    def narrowed(self) -> bool:
        return self.measures is not None or self.start is not None or self.end is not None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bounds(search: Search, now: datetime) -> tuple[datetime, datetime] | None:
    """[first, last) that can hold entries: none predate the patient's first agreement in
    force (nor a reading its uploader), none lie past now (beyond the clock skew a write
    allows)."""
    agreements = Agreement.objects(patient=search.patient_id).only("active_since")
    starts = [_utc(a.active_since) for a in agreements if a.active_since is not None]
    if search.cgm:
        # A reading is refused when older than its uploader less BEFORE_UPLOADER.
        uploaders = Uploader.objects(patient=search.patient_id).only("created_at")
        starts += [_utc(u.created_at) - glucose.BEFORE_UPLOADER for u in uploaders]
    if not starts:
        return None
    first, last = min(starts), _utc(now) + CLOCK_SKEW
    if search.start is not None:
        first = max(first, _utc(search.start))
    if search.end is not None:
        last = min(last, _utc(search.end))
    return (first, last) if first < last else None


def _window(search: Search, low: datetime, high: datetime) -> list[dict]:
    """The entries (and CGM readings) in [low, high), in the search's order."""
    order = DESCENDING if search.descending else ASCENDING
    found = []
    for query in search.filters():
        query["occurred_at"] = {"$gte": low, "$lt": high}
        found += logs.entries().find(query).sort([("occurred_at", order), ("_id", order)])
    if search.cgm:
        found += cgm_readings(search.patient_id, low, high)
    found.sort(key=_key, reverse=search.descending)
    return found


def cgm_readings(patient_id, low: datetime, high: datetime) -> list[dict]:
    """Sensor readings in [low, high) as entries: `occurred_at`, an `_id` (the FHIR id) and
    the reading as Nightscout shows it (`cgm`), from the hour buckets' (patient, hour) index."""
    first_hour = low.replace(minute=0, second=0, microsecond=0)
    query = {"patient": patient_id, "hour": {"$gte": first_hour, "$lt": high}}
    found = []
    for bucket in glucose.buckets().find(query, {"s": 1, "hour": 1, "dev": 1}):
        hour_ms = round(_utc(bucket["hour"]).timestamp() * 1000)
        for key, stored in (bucket.get("s") or {}).items():
            date_ms = hour_ms + int(key)
            at = datetime.fromtimestamp(date_ms / 1000, UTC)
            if low <= at < high:
                reading = glucose_entries.present(
                    patient_id, "sgv", date_ms, stored, bucket.get("dev")
                )
                rid = fhir_glucose.reading_id(patient_id, date_ms)
                found.append({"occurred_at": at, "_id": rid, "cgm": reading})
    return found


def _key(entry: dict) -> tuple:
    # ObjectIds sort as their hex does, so log entries and readings share one order.
    return (_utc(entry["occurred_at"]), str(entry["_id"]))


def page(
    search: Search, *, count: int, position: Position | None, now: datetime
) -> tuple[list[dict], Position | None]:
    """Up to `count` entries after `position`, and where the next page starts (None: done)."""
    bounds = _bounds(search, now)
    if bounds is None or count <= 0:
        return [], None
    first, last = bounds
    window = min(max(position.window, MIN_WINDOW), MAX_WINDOW) if position else FIRST_WINDOW
    if position is None:
        start = last if search.descending else first
    elif search.descending:
        # Stored instants have millisecond precision: this window holds the cursor's ties.
        start = max(min(_utc(position.at), last - TICK) + TICK, first)
    else:
        start = min(max(_utc(position.at), first), last)
    mark = (_utc(position.at), str(position.entry_id)) if position else None
    found: list[dict] = []
    edge = start
    while len(found) <= count:
        if search.descending:
            low, high = max(edge - window, first), edge
            edge = low
        else:
            low, high = edge, min(edge + window, last)
            edge = high
        if low >= high:
            break
        batch = _window(search, low, high)
        if mark is not None:
            batch = [e for e in batch if (_key(e) < mark if search.descending else _key(e) > mark)]
        found += batch
        window = min(window * 2, MAX_WINDOW)
    if len(found) <= count:
        return found, None
    found = found[:count]
    at, entry_id = _key(found[-1])
    # The next page starts with the span this one took: about what it will need.
    span = max(abs(start - at), MIN_WINDOW)
    return found, Position(at, entry_id, min(span, MAX_WINDOW))


def total(search: Search) -> int:
    """How many entries the search matches (see the module's note on the rollups)."""
    readings = _cgm_total(search) if search.cgm else 0
    if search.narrowed():
        return readings + sum(
            logs.entries().count_documents(query | _date_filter(search))
            for query in search.filters()
        )
    rollups = rollup_store.rollups().find({"patient": search.patient_id}, {"p": 1})
    return readings + sum(
        (period or {}).get("count") or 0
        for rollup in rollups
        for period in (rollup.get("p") or {}).values()
        if isinstance(period, dict)
    )


def _cgm_total(search: Search) -> int:
    """Readings in the search's dates: the per-day counts when it has none, else counted."""
    if search.start is None and search.end is None:
        days = glucose.days().find({"patient": search.patient_id}, {"n": 1})
        return sum(day.get("n") or 0 for day in days)
    low = _utc(search.start) if search.start else datetime(1970, 1, 1, tzinfo=UTC)
    high = _utc(search.end) if search.end else datetime(2200, 1, 1, tzinfo=UTC)
    return len(cgm_readings(search.patient_id, low, high))


def _date_filter(search: Search) -> dict:
    span = {}
    if search.start is not None:
        span["$gte"] = search.start
    if search.end is not None:
        span["$lt"] = search.end
    return {"occurred_at": span} if span else {}
