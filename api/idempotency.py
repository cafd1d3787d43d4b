"""`Idempotency-Key` on any authenticated write: a retry replays the stored outcome.

The first request with a key claims it (a unique document); its response is stored when it
completes. A retry with the same key and the same request gets that response again, marked
`Idempotent-Replayed: true`; the same key with a different request is a 422; a retry while
the first is still running is a 409 with Retry-After. Server errors and refusals (401, 403,
404) release the key so the request can be retried for real. Keys are scoped to the
signed-in user and kept 24 hours.

A stored response may hold a one-time code (an invitation's, a caregiver grant's), so it is
kept sealed with AES-GCM under a key derived from the signing secret: a copy of the database
alone does not reveal a code still waiting to be redeemed.
"""

import hashlib
import os
import re
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, g, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from mongoengine.errors import NotUniqueError

from api.clock import utcnow
from api.errors import problem
from api.models.idempotency import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLAYED_HEADERS = ("Location", "ETag", "X-Pagination")
# A refused request did nothing worth replaying, and a caller turned away from a patient's
# records must leave no trace there (the BOLA matrix checks every collection).
REFUSED = frozenset({401, 403, 404})
_VALID_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string):
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _signed_in_user() -> str | None:
    try:
        verify_jwt_in_request(optional=True)
    except (JWTExtendedException, PyJWTError):
        return None  # the view's own authentication answers with the right 401
    return get_jwt_identity()


def _cipher() -> AESGCM:
    secret = current_app.config["JWT_SECRET_KEY"].encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idempotency-replay")
    return AESGCM(key.derive(secret))


def seal(body: bytes, record_id: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher().encrypt(nonce, body, record_id.encode())


def unseal(sealed: bytes, record_id: str) -> bytes | None:
    """The stored body, or None when it cannot be opened (the secret was rotated)."""
    try:
        return _cipher().decrypt(sealed[:12], sealed[12:], record_id.encode())
    except (InvalidTag, ValueError):
        return None


def _replay(record: IdempotencyRecord):
    body = unseal(record.body, record.id)
    if body is None:
        return problem(
            422,
            "This Idempotency-Key's stored answer can no longer be read.",
            errors={HEADER: ["Use a new key."]},
        )
    response = current_app.response_class(
        body, status=record.status, content_type=record.content_type
    )
    response.headers.update(record.headers or {})
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer_existing(record_id: str, fingerprint: str):
    record = IdempotencyRecord.objects(id=record_id).first()
    if record is None:
        return problem(
            409, "This request is being retried; try again.", headers={"Retry-After": "1"}
        )
    if record.fingerprint != fingerprint:
        return problem(
            422,
            "This Idempotency-Key was used for a different request.",
            errors={HEADER: ["Use a new key for a different request."]},
        )
    if not record.completed:
        return problem(
            409, "The first request with this key is still running.", headers={"Retry-After": "1"}
        )
    return _replay(record)


def claim_key():
    key = request.headers.get(HEADER)
    if key is None or request.method not in WRITE_METHODS:
        return None
    if not _VALID_KEY.match(key):
        return problem(
            422,
            "The Idempotency-Key header is not valid.",
            errors={HEADER: ["Use 8 to 128 letters, digits or . _ : - (a UUID fits)."]},
        )
    user = _signed_in_user()
    if user is None:
        return None
    record_id, fingerprint = f"{user}:{key}", _fingerprint()
    try:
        IdempotencyRecord(
            id=record_id, fingerprint=fingerprint, expires_at=utcnow() + KEEP_FOR
        ).save(force_insert=True)
    except NotUniqueError:
        return _answer_existing(record_id, fingerprint)
    g.idempotency_record = record_id
    return None


def store_outcome(response):
    record_id = g.pop("idempotency_record", None)
    if record_id is None:
        return response
    if response.status_code >= 500 or response.status_code in REFUSED:
        IdempotencyRecord.objects(id=record_id).delete()
        return response
    IdempotencyRecord.objects(id=record_id).update_one(
        set__completed=True,
        set__status=response.status_code,
        set__body=seal(response.get_data(), record_id),
        set__content_type=response.content_type,
        set__headers={h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers},
    )
    return response


def register_idempotency(app) -> None:
    app.before_request(claim_key)
    app.after_request(store_outcome)
