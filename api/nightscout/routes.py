"""The Nightscout v1 routes uploaders call. Every one needs the uploader's key.

A POST answers 200 with one item per posted item, in order, each with a string `_id`: the
stored entry, or `{"_id", "refused": true, "errors": {field: [message]}}` for an item that
was refused (the others are stored all the same).
"""

import hashlib
import json
from datetime import UTC, datetime

from flask import jsonify, request

from api import access
from api.clock import utcnow
from api.extensions import Blueprint
from api.models.user import User
from api.nightscout import wire
from api.services.flows import glucose as glucose_flow
from api.services.tracking import glucose, glucose_entries, treatments, uploaders

blp = Blueprint(
    "nightscout",
    __name__,
    url_prefix="/api/v1",
    description="The Nightscout API v1 subset CGM uploaders use (key: `api-secret` header "
    "with the SHA-1 hex of the uploader's secret, or `?token=<secret>`).",
)
blp.register_error_handler(wire.ApiError, wire.handle_api_error)
blp.register_error_handler(wire.HTTPException, wire.handle_http_error)

VERSION = "15.0.2"

# Nightscout's clients read errors in Nightscout's own shape, so they are documented as such.
_ERROR_BODY = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "description": {"type": "string"},
    },
}
nightscout_errors = blp.doc(
    responses={
        str(code): {
            "description": "An error in Nightscout's shape.",
            "content": {"application/json": {"schema": _ERROR_BODY}},
        }
        for code in (400, 401, 404, 405, 406, 413, 415, 422, 429, 503)
    }
)
OPS = {"$gte": 0, "$gt": 1, "$lte": 0, "$lt": -1}


class BadQuery(wire.NightscoutError):
    status = 422


def _scope(now: datetime) -> access.UploaderScope:
    """The caller's uploader (401 without one), recorded as seen."""
    scope = access.uploader_scope(wire.api_key())
    uploaders.seen(scope.uploader, now=now)
    return scope


def _posted(now: datetime) -> list:
    """The posted items; a caller without a valid key hears 401 whatever the body."""
    key = wire.api_key()
    if key is None:
        access.uploader_scope(None)
    try:
        return wire.items()
    except wire.NightscoutError:
        access.uploader_scope(key)
        raise


def _refused(patient_id, index: int, item, errors: dict) -> dict:
    text = json.dumps(item, sort_keys=True, default=str)[:10_000]
    digest = hashlib.sha256(f"{patient_id}:refused:{index}:{text}".encode()).hexdigest()
    return {"_id": digest[:24], "refused": True, "errors": errors}


# --- status ---------------------------------------------------------------------------------


@blp.route("/status.json", methods=["GET"])
@blp.route("/status", methods=["GET"])
@nightscout_errors
def status():
    """Nightscout's server status (uploaders check it when set up)."""
    now = utcnow()
    scope = _scope(now)
    user = User.objects(pk=scope.patient_id).only("glucose_unit").first()
    units = "mmol" if user and user.glucose_unit == "mmol/L" else "mg/dl"
    return jsonify(
        {
            "status": "ok",
            "name": "CarePact",
            "version": VERSION,
            "serverTime": glucose_entries.date_string(round(now.timestamp() * 1000)),
            "serverTimeEpoch": round(now.timestamp() * 1000),
            "apiEnabled": True,
            "careportalEnabled": True,
            "settings": {"units": units, "enable": ["careportal"]},
        }
    )


@blp.route("/verifyauth", methods=["GET"])
@nightscout_errors
def verify_auth():
    """Whether the key is accepted (401 otherwise)."""
    _scope(utcnow())
    message = {"canRead": True, "canWrite": True, "isAdmin": False, "message": "OK"}
    return jsonify({"status": 200, "message": message})


@blp.route("/experiments/test", methods=["GET"])
@nightscout_errors
def experiments_test():
    """xDrip+'s authentication check."""
    _scope(utcnow())
    return jsonify({"status": "ok"})


# --- entries --------------------------------------------------------------------------------


def _post_entries():
    now = utcnow()
    posted = _posted(now)
    sizes = wire.sizes(posted)
    scope = access.uploader_scope(wire.api_key())
    earliest = glucose.earliest_accepted(scope.created_at)
    answer, readings = [], []
    for index, (item, size) in enumerate(zip(posted, sizes, strict=True)):
        try:
            reading = glucose.parse(item, earliest=earliest, now=now, size=size)
        except glucose.Refused as refused:
            answer.append(_refused(scope.patient_id, index, item, refused.errors))
            continue
        readings.append(reading)
        answer.append(
            glucose_entries.present(
                scope.patient_id, reading.type, reading.date_ms, reading.packed(), reading.device
            )
        )
    glucose_flow.entries_uploaded(
        scope.patient_id, scope.tz, readings, now=now, uploader=scope.uploader
    )
    newest = max((r.at for r in readings), default=None)
    uploaders.seen(scope.uploader, now=now, last_reading_at=newest)
    return jsonify(answer)


def _count(default: int) -> int:
    raw = request.args.get("count")
    if raw is None:
        return default
    try:
        count = int(raw)
    except ValueError:
        raise BadQuery("count: Must be a whole number.") from None
    if not 0 <= count <= glucose_entries.MAX_COUNT:
        raise BadQuery(f"count: Must be between 0 and {glucose_entries.MAX_COUNT}.")
    return count or glucose_entries.MAX_COUNT  # Nightscout reads count=0 as "all"


def _as_ms(name: str, raw: str) -> int:
    if name == "date":
        try:
            return round(float(raw))
        except ValueError:
            raise BadQuery(f"find[date]: {raw!r} is not milliseconds since the epoch.") from None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"find[{name}]: {raw!r} is not an ISO 8601 instant.") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return round(at.timestamp() * 1000)


def _window(names: tuple[str, ...]) -> glucose_entries.Window:
    window = glucose_entries.Window()
    for name in names:
        for op, shift in OPS.items():
            raw = request.args.get(f"find[{name}][{op}]")
            if raw is None:
                continue
            ms = _as_ms(name, raw) + shift
            if op in ("$gte", "$gt"):
                window.low = ms if window.low is None else max(window.low, ms)
            else:
                window.high = ms if window.high is None else min(window.high, ms)
    return window


def _get_entries(kinds: tuple[str, ...], default_count: int):
    now = utcnow()
    scope = _scope(now)
    found = glucose_entries.find(
        scope.patient_id,
        kinds=kinds,
        window=_window(("date", "dateString")),
        count=_count(default_count),
        now=now,
    )
    return jsonify(found)


@blp.route("/entries", methods=["GET", "POST"])
@blp.route("/entries.json", methods=["GET", "POST"])
@nightscout_errors
def entries():
    """POST: an entry or an array of `sgv`, `mbg`, `cal` entries (gzip accepted). GET: the
    newest first; `count` (default 10), `find[date][$gte|$gt|$lte|$lt]` (ms) or
    `find[dateString][...]` (ISO); without a date filter, the last 4 days."""
    if request.method == "POST":
        return _post_entries()
    return _get_entries(glucose.TYPES, glucose_entries.DEFAULT_COUNT)


@blp.route("/entries/sgv.json", methods=["GET"])
@blp.route("/entries/sgv", methods=["GET"])
@nightscout_errors
def sgv_entries():
    """Sensor glucose values only, newest first (same filters as `entries.json`)."""
    return _get_entries(("sgv",), glucose_entries.DEFAULT_COUNT)


@blp.route("/entries/current.json", methods=["GET"])
@blp.route("/entries/current", methods=["GET"])
@nightscout_errors
def current_entry():
    """The newest sensor glucose value."""
    return _get_entries(("sgv",), 1)


# --- treatments and device status -----------------------------------------------------------


def _post_treatments():
    now = utcnow()
    posted = _posted(now)
    sizes = wire.sizes(posted)
    scope = _scope(now)
    earliest = glucose.earliest_accepted(scope.created_at)
    answer, docs = [], {}
    for index, (item, size) in enumerate(zip(posted, sizes, strict=True)):
        try:
            doc = treatments.parse(scope.patient_id, item, earliest=earliest, now=now, size=size)
        except glucose.Refused as refused:
            answer.append(_refused(scope.patient_id, index, item, refused.errors))
            continue
        docs.setdefault(doc["_id"], doc)
        answer.append(treatments.present(doc))
    glucose_flow.treatments_uploaded(scope.patient_id, scope.tz, list(docs.values()), now=now)
    return jsonify(answer)


@blp.route("/treatments", methods=["GET", "POST"])
@blp.route("/treatments.json", methods=["GET", "POST"])
@nightscout_errors
def treatments_route():
    """POST: a treatment or an array (`eventType`, `created_at`, `carbs`, `insulin`, `notes`);
    carbohydrates count toward the carbohydrate goal. GET: newest first, `count`,
    `find[created_at][$gte|$gt|$lte|$lt]`."""
    if request.method == "POST":
        return _post_treatments()
    now = utcnow()
    scope = _scope(now)
    window = _window(("created_at",))

    def instant(ms):
        return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)

    found = treatments.find(
        scope.patient_id,
        low=instant(window.low),
        high=instant(window.high),
        count=_count(treatments.DEFAULT_COUNT),
    )
    return jsonify([treatments.present(doc) for doc in found])


def _battery(item) -> int | None:
    uploader = item.get("uploader") if isinstance(item, dict) else None
    battery = uploader.get("battery") if isinstance(uploader, dict) else None
    if isinstance(battery, int | float) and not isinstance(battery, bool) and 0 <= battery <= 100:
        return round(battery)
    return None


@blp.route("/devicestatus", methods=["POST"])
@blp.route("/devicestatus.json", methods=["POST"])
@nightscout_errors
def device_status():
    """A device status or an array: the uploader's battery (`uploader.battery`, %) is kept."""
    now = utcnow()
    posted = _posted(now)
    scope = _scope(now)
    answer, battery = [], None
    for index, item in enumerate(posted):
        text = json.dumps(item, sort_keys=True, default=str)[:10_000]
        digest = hashlib.sha256(f"{scope.uploader_id}:status:{text}".encode()).hexdigest()
        answer.append({"_id": digest[:24]})
        level = _battery(item)
        if level is not None:
            battery = level
        elif not isinstance(item, dict):
            answer[index] = _refused(
                scope.patient_id, index, item, {"_item": ["Must be an object."]}
            )
    devices = [i.get("device") for i in posted if isinstance(i, dict)]
    device = next((d[:100] for d in reversed(devices) if isinstance(d, str)), None)
    uploaders.record(
        scope.uploader_id,
        battery=battery,
        battery_at=now if battery is not None else None,
        device=device,
    )
    return jsonify(answer)
