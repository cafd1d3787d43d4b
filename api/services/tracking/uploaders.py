"""Uploader credentials: a secret per uploader app, shown once, kept only as a hash.

Nightscout clients authenticate with the SHA-1 hex of the secret (`api-secret` header) or the
secret itself (`?token=`). Both reduce to the SHA-1 hex; what is stored is its SHA-256
(`key_hash`), looked up through a unique index: one read per request.
"""

import hashlib
import secrets
import string
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from api.errors import Conflict, NotFound
from api.models.glucose import Uploader
from api.models.user import User
from api.services.tracking.rule_digest import SENSOR_MEASURE, rule_digest

SECRET_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits
MAX_UPLOADERS = 20
# What an upload needs of its uploader (the zone places readings in the patient's days).
AUTH_FIELDS = {"patient": 1, "tz": 1, "created_at": 1, "last_seen_at": 1, "last_reading_at": 1}
AUTH_FIELDS |= {"flags_at": 1, "alert_rules": 1}
# A live sensor uploads every five minutes: recording every other upload keeps the list
# within one reading of the truth at half the writes.
SEEN_EVERY = timedelta(minutes=6)


def uploaders():
    return Uploader._get_collection()


def sha1_hex(secret: str) -> str:
    return hashlib.sha1(secret.encode()).hexdigest()  # noqa: S324  # nosec B324: Nightscout's scheme


def key_hash(api_secret_sha1: str) -> str:
    return hashlib.sha256(api_secret_sha1.lower().encode()).hexdigest()


def create(patient_id: ObjectId, name: str, *, created_by: ObjectId, now: datetime) -> dict:
    """A new uploader; the returned dict holds the secret, which is never stored."""
    if uploaders().count_documents({"patient": patient_id, "revoked_at": None}) >= MAX_UPLOADERS:
        raise Conflict(f"A patient may have at most {MAX_UPLOADERS} active uploaders.")
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    api_secret = sha1_hex(secret)
    user = User.objects(pk=patient_id).only("timezone").first()
    doc = {
        "alert_rules": rule_digest(patient_id).get(SENSOR_MEASURE, []),
        "_id": ObjectId(),
        "patient": patient_id,
        "name": name,
        "key_hash": key_hash(api_secret),
        "tz": user.timezone if user else "UTC",
        "created_at": now,
        "created_by": created_by,
        "revoked_at": None,
    }
    uploaders().insert_one(doc)
    return {**doc, "secret": secret, "api_secret_sha1": api_secret}


def listing(patient_id: ObjectId) -> list[dict]:
    """The patient's active uploaders, oldest first."""
    return list(
        uploaders()
        .find({"patient": patient_id, "revoked_at": None}, {"key_hash": 0})
        .sort("created_at", 1)
    )


def revoke(patient_id: ObjectId, uploader_id: str, *, now: datetime) -> None:
    try:
        oid = ObjectId(uploader_id)
    except (InvalidId, TypeError):
        raise NotFound() from None
    done = uploaders().update_one(
        {"_id": oid, "patient": patient_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
    )
    if done.matched_count == 0:
        raise NotFound()


def authenticate(api_secret_sha1: str) -> dict | None:
    """The active uploader holding this key, or None (one indexed read)."""
    return uploaders().find_one(
        {"key_hash": key_hash(api_secret_sha1), "revoked_at": None}, AUTH_FIELDS
    )


def seen(uploader: dict, *, now: datetime, last_reading_at: datetime | None = None) -> None:
    """Record when the uploader called and its newest reading, unless both are within
    `SEEN_EVERY` of what is recorded: a plain update, as `findAndModify` scans the
    collection on the embedded server."""
    stored_reading, last_seen = uploader.get("last_reading_at"), uploader.get("last_seen_at")
    newer = last_reading_at is not None and (
        stored_reading is None or last_reading_at - stored_reading >= SEEN_EVERY
    )
    if not newer and last_seen is not None and now - last_seen < SEEN_EVERY:
        return
    update = {"$set": {"last_seen_at": now}}
    if last_reading_at is not None:
        update["$max"] = {"last_reading_at": last_reading_at}
    uploaders().update_one({"_id": uploader["_id"]}, update)


def record(uploader_id: ObjectId, **fields) -> None:
    """Move what the list shows: `last_reading_at` forward, the battery as reported."""
    update = {}
    if fields.get("last_reading_at") is not None:
        update["$max"] = {"last_reading_at": fields.pop("last_reading_at")}
    fields = {k: v for k, v in fields.items() if v is not None}
    if fields:
        update["$set"] = fields
    if update:
        uploaders().update_one({"_id": uploader_id}, update)


def mirror_rules(patient_id: ObjectId, sensor_rules: list[dict]) -> None:
    """The patient's sensor glucose rules, copied so an upload reads them with its key."""
    uploaders().update_many({"patient": patient_id}, {"$set": {"alert_rules": sensor_rules}})


def zone_changed(patient_id: ObjectId, tz: str) -> None:
    """The patient moved zone: later readings count in the new zone's days."""
    uploaders().update_many({"patient": patient_id}, {"$set": {"tz": tz}})


def flags_refreshed(patient_id: ObjectId, now: datetime) -> None:
    """The patient's CGM flags were recomputed (tracking.glucose_flags)."""
    uploaders().update_many(
        {"patient": patient_id, "revoked_at": None}, {"$set": {"flags_at": now}}
    )
