"""Who is calling: the verified token's claims, role guards, and the JWT callbacks.

Role and token family travel in the token, so most requests never load the user document;
the one database read every request pays is the revocation check.
"""

from dataclasses import dataclass

from bson import ObjectId
from flask_jwt_extended import get_jwt

from api.errors import problem
from api.extensions import jwt
from api.services.clinic.api_clients import CLIENT_ROLE
from api.services.identity import tokens


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
    return tokens.is_revoked(claims)


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
