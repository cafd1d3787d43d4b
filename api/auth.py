"""Who is calling: the verified token's claims, role guards, and the JWT callbacks.

Role and token family travel in the token, so most requests never load the user document;
the one database read every request pays is the revocation check. A route that logs to the
patient's own record may leave that check to its write (`authenticated(revocation_by_write=
True)`, `session_memory`), which reads the patient's summary anyway.
"""

from dataclasses import dataclass

from bson import ObjectId
from flask import request
from flask_jwt_extended import get_jwt

from api.errors import problem
from api.extensions import jwt
from api.services.clinic.api_clients import CLIENT_ROLE
from api.services.identity import tokens
from api.services.identity.session_memory import SessionCheck

# Per request, in the WSGI environ (which lives exactly as long as the request).
_BY_WRITE = "carepact.revocation_by_write"
_SESSION = "carepact.session_check"


@dataclass(frozen=True)
class Caller:
    id: ObjectId
    role: str
    family: str
    jti: str
    # A clinic system client's clinic (its tokens read that clinic's patients, FHIR only).
    clinic: ObjectId | None = None

    @property
    def is_provider(self) -> bool:
        return self.role == "provider"


def caller() -> Caller:
    claims = get_jwt()
    clinic = claims.get("clinic") if claims["role"] == CLIENT_ROLE else None
    return Caller(
        id=ObjectId(claims["sub"]),
        role=claims["role"],
        family=claims["fam"],
        jti=claims["jti"],
        clinic=ObjectId(clinic) if clinic else None,
    )


@jwt.token_in_blocklist_loader
def _is_revoked(_header, claims) -> bool:
    if request.environ.get(_BY_WRITE) and _own_record(claims):
        request.environ[_SESSION] = SessionCheck.of(claims)
        return False
    return tokens.is_revoked(claims)


def _own_record(claims) -> bool:
    """A patient's token on their own `{pid}`: the summary the write reads is the token's."""
    pid = (request.view_args or {}).get("pid")
    return claims.get("role") == "patient" and pid in ("me", claims["sub"])


def leave_revocation_to_write() -> None:
    """Before the token is verified: this route's write checks it (on the patient's own
    record; every other caller is checked as usual)."""
    request.environ[_BY_WRITE] = True


def session_check() -> SessionCheck | None:
    """The check the write must make, when the token's was left to it."""
    return request.environ.get(_SESSION)


def settle_session() -> None:
    """After the route: a check no write made is made now (401 when revoked)."""
    check = request.environ.get(_SESSION)
    if check is not None:
        check.settle()


def _unauthorized(detail):
    return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


@jwt.unauthorized_loader
def _missing_token(_reason):
    return _unauthorized("A bearer token is required.")


@jwt.invalid_token_loader
def _invalid_token(_reason):
    return _unauthorized("The token is not valid.")


@jwt.expired_token_loader
def _expired_token(_header, _claims):
    return _unauthorized("The token has expired.")


@jwt.revoked_token_loader
def _revoked_token(_header, _claims):
    return _unauthorized("The token has been revoked.")


@jwt.needs_fresh_token_loader
def _needs_fresh(_header, _claims):
    return _unauthorized("A fresh token is required.")


@jwt.user_lookup_error_loader
def _user_lookup_error(_header, _claims):
    return _unauthorized("The token's account no longer exists.")


@jwt.token_verification_failed_loader
def _verification_failed(_header, _claims):
    return _unauthorized("The token is not valid.")
