"""Access and refresh tokens: issue, rotate with reuse detection, revoke.

Every token carries its family (one login's chain of refreshes). Revocations are documents
with a TTL, so any worker on any host sees them on the very next request. A revocation of a
patient's tokens also moves their summary's sessions revision, in the same transaction:
logging writes confirm the tokens they remember against it (`session_memory`).
"""

import time
import uuid
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from mongoengine.errors import NotUniqueError

from api import transactions
from api.clock import utcnow
from api.errors import Unauthorized
from api.models.token import Revocation, SpentRefreshToken
from api.services.identity import settings
from api.services.tracking import summary as patient_summary


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def issue_pair(user, family: str | None = None) -> dict:
    family = family or uuid.uuid4().hex
    claims = {"role": user.role, "fam": family, "iat_ms": _now_ms()}
    identity = str(user.pk)
    access_ttl = settings.current().access_ttl
    return {
        "access_token": create_access_token(
            identity, additional_claims=claims, expires_delta=access_ttl
        ),
        "refresh_token": create_refresh_token(
            identity, additional_claims=claims, expires_delta=settings.current().refresh_ttl
        ),
        "token_type": "Bearer",  # nosec B105
        "expires_in": int(access_ttl.total_seconds()),
    }


def revocations():
    return Revocation._get_collection()


def is_revoked(claims: dict) -> bool:
    """One indexed read on every authenticated request (raw: the hot path of every route)."""
    keys = [f"jti:{claims['jti']}", f"family:{claims.get('fam')}", f"user:{claims['sub']}"]
    found = revocations().find({"_id": {"$in": keys}}, {"not_before_ms": 1})
    for revocation in found:
        if not revocation["_id"].startswith("user:"):
            return True
        if claims.get("iat_ms", 0) < (revocation.get("not_before_ms") or 0):
            return True
    return False


def _expiry_of(claims: dict) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC)


def _longest_lifetime() -> timedelta:
    return settings.current().refresh_ttl


def _revoke(user_id, updates: dict[str, dict]) -> None:
    """Store the revocations `updates` (id → mongoengine update) and, for a patient, give
    their summary a new sessions revision, in one transaction: a logging write that sees the
    new revision must find the revocations when it reads, and a failure must not leave
    revocations that processes remembering the token would never look for
    (`session_memory`)."""

    def store() -> None:
        for key, update in updates.items():
            Revocation.objects(id=key).update_one(upsert=True, **update)
        if user_id is not None:
            patient_summary.sessions_changed(ObjectId(user_id))

    transactions.run(store, warm=(revocations, patient_summary.summaries))


def _family(family: str, reason: str) -> dict[str, dict]:
    expires = utcnow() + _longest_lifetime()
    return {f"family:{family}": {"set__reason": reason, "set__expires_at": expires}}


def revoke_family(family: str, reason: str, *, user_id=None) -> None:
    """Every token of one sign-in; `user_id` is its holder's (None for a clinic client)."""
    _revoke(user_id, _family(family, reason))


def revoke_session(claims: dict, reason: str) -> None:
    """This access token and every token of its sign-in (logout)."""
    access = {"set__reason": reason, "set__expires_at": _expiry_of(claims)}
    _revoke(claims["sub"], {f"jti:{claims['jti']}": access, **_family(claims["fam"], reason)})


def revoke_user(user_id, reason: str) -> None:
    """Void every token the user holds now; tokens issued afterwards are unaffected."""
    update = {
        "max__not_before_ms": _now_ms() + 1,
        "set__reason": reason,
        "set__expires_at": utcnow() + _longest_lifetime(),
    }
    _revoke(user_id, {f"user:{user_id}": update})


def rotate(refresh_claims: dict, user) -> dict:
    """Spend this refresh token and issue the next pair of its family.

    A token presented a second time means it leaked (or two clients raced): the whole family
    is revoked and the caller must sign in again.
    """
    try:
        SpentRefreshToken(
            id=refresh_claims["jti"],
            family=refresh_claims["fam"],
            expires_at=_expiry_of(refresh_claims),
        ).save(force_insert=True)
    except NotUniqueError:
        revoke_family(refresh_claims["fam"], "refresh_reuse", user_id=refresh_claims["sub"])
        raise Unauthorized(
            "This refresh token was already used; every session of this sign-in has been "
            "ended. Please sign in again.",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return issue_pair(user, family=refresh_claims["fam"])


def decode(token: str) -> dict:
    return decode_token(token, allow_expired=False)
