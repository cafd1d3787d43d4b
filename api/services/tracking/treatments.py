"""Nightscout treatments from uploaders (carbs, insulin, notes): checked, stored once each.

A treatment's `_id` derives from the patient and the uploader's identifier for it (Loop's
`syncIdentifier`, a client `_id`, or else its event type and time), so a re-post is an
upsert of the same document and answers the same `_id`.
"""

import hashlib
import math
from datetime import UTC, datetime

from pymongo import UpdateOne

from api.models.glucose import Treatment
from api.services.tracking.glucose import FUTURE_SKEW, MAX_ITEM_BYTES, Refused, parse_instant

MAX_CARBS = 1000.0
MAX_INSULIN = 100.0
DEFAULT_COUNT = 10
FIELDS = {"_id": 1, "event_type": 1, "created_at": 1, "carbs": 1, "insulin": 1, "notes": 1}


def treatments():
    return Treatment._get_collection()


def _instant(item: dict) -> datetime:
    raw = item.get("created_at", item.get("timestamp"))
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return datetime.fromtimestamp(raw / 1000, UTC)
    if not isinstance(raw, str):
        raise Refused({"created_at": ["Required: an ISO 8601 instant."]})
    return parse_instant(raw, "created_at")


def _amount(item: dict, name: str, limit: float) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused({name: ["Must be a number."]})
    if not 0 <= value <= limit:
        raise Refused({name: [f"Must be between 0 and {limit:g}."]})
    return float(value)


def _text(item: dict, name: str, limit: int) -> str | None:
    value = item.get(name)
    return value[:limit] if isinstance(value, str) else None


def parse(patient_id, item, *, earliest: datetime, now: datetime, size: int) -> dict:
    """One posted treatment as the document to store, or Refused naming the fields."""
    if not isinstance(item, dict):
        raise Refused({"_item": ["Each treatment must be an object."]})
    if size > MAX_ITEM_BYTES:
        raise Refused({"_item": [f"A treatment may be at most {MAX_ITEM_BYTES} bytes."]})
    at = _instant(item)
    if at > now + FUTURE_SKEW:
        raise Refused({"created_at": ["Must not be more than 5 minutes in the future."]})
    if at < earliest:
        raise Refused({"created_at": ["Too old: before the uploader was created, less 30 days."]})
    event_type = _text(item, "eventType", 80) or "<none>"
    identifier = item.get("syncIdentifier") or item.get("_id") or item.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        identifier = f"{event_type}@{at.isoformat()}"
    digest = hashlib.sha256(f"{patient_id}:treatment:{identifier[:200]}".encode()).hexdigest()
    return {
        "_id": digest[:24],
        "patient": patient_id,
        "event_type": event_type,
        "created_at": at,
        "carbs": _amount(item, "carbs", MAX_CARBS),
        "insulin": _amount(item, "insulin", MAX_INSULIN),
        "notes": _text(item, "notes", 1000),
        "entered_by": _text(item, "enteredBy", 100),
    }


def store(docs: list[dict]) -> None:
    """Insert those not stored yet (a re-post leaves the first one as it was)."""
    if docs:
        treatments().bulk_write(
            [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs],
            ordered=False,
        )


def find(patient_id, *, low=None, high=None, count: int = DEFAULT_COUNT) -> list[dict]:
    query = {"patient": patient_id}
    if low is not None or high is not None:
        query["created_at"] = {
            **({"$gte": low} if low is not None else {}),
            **({"$lte": high} if high is not None else {}),
        }
    return list(treatments().find(query, FIELDS).sort("created_at", -1).limit(count))


def present(doc: dict) -> dict:
    at = doc["created_at"]
    shown = {
        "_id": doc["_id"],
        "eventType": doc.get("event_type"),
        "created_at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "timestamp": round(at.timestamp() * 1000),
    }
    for name in ("carbs", "insulin", "notes"):
        if doc.get(name) is not None:
            shown[name] = doc[name]
    return shown
