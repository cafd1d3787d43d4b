"""Clinic system clients for the FHIR API: created by an admin, read-only, revocable.

The secret is 256 random bits shown once; a SHA-256 of it is stored (a slow password hash
buys nothing against a secret nobody can guess, and the token endpoint stays cheap). A
client's access tokens carry its clinic and the family `client:<id>`, so revoking the
client revokes every token it holds on the very next request.
"""

import hashlib
import hmac
import secrets
from datetime import datetime

from flask_jwt_extended import create_access_token

from api.errors import NotFound
from api.models.api_client import ApiClient
from api.services.clinic import clinics
from api.services.identity import tokens

CLIENT_ROLE = "clinic_client"
SCOPE = "system/*.read"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(*, clinic_id, name: str | None, created_by, now: datetime) -> tuple[ApiClient, str]:
    """A new client of the clinic, and its secret (the only time it exists in clear)."""
    clinic = clinics.get_clinic(clinic_id)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        clinic=clinic.pk,
        client_id=f"cp_{secrets.token_hex(12)}",
        secret_hash=_hash(secret),
        name=name,
        created_by=created_by,
        created_at=now,
    ).save(force_insert=True)
    return client, secret


def listing(clinic_id) -> list[ApiClient]:
    clinic = clinics.get_clinic(clinic_id)
    return list(ApiClient.objects(clinic=clinic.pk).order_by("created_at"))


def family(client: ApiClient) -> str:
    return f"client:{client.pk}"


def revoke(*, clinic_id, client_id: str, revoked_by, now: datetime) -> None:
    """End the client and every token it was given; revoking twice is harmless."""
    clinic = clinics.get_clinic(clinic_id)
    client = ApiClient.objects(clinic=clinic.pk, client_id=client_id).first()
    if client is None:
        raise NotFound()
    if client.revoked_at is None:
        ApiClient.objects(pk=client.pk, revoked_at=None).update_one(
            set__revoked_at=now, set__revoked_by=revoked_by
        )
    tokens.revoke_family(family(client), "client_revoked")


def authenticate(client_id: str, secret: str) -> ApiClient | None:
    """The client these credentials prove, or None (unknown, wrong secret, or revoked)."""
    client = ApiClient.objects(client_id=client_id[:64]).first()
    if client is None or client.revoked_at is not None:
        return None
    if not hmac.compare_digest(client.secret_hash, _hash(secret)):
        return None
    return client


def issue_token(client: ApiClient, *, now: datetime, ttl_seconds: int) -> dict:
    """An access token for the client (no refresh token: it asks again), and the record."""
    ApiClient.objects(pk=client.pk).update_one(inc__tokens_issued=1, set__last_token_at=now)
    claims = {
        "role": CLIENT_ROLE,
        "fam": family(client),
        "clinic": str(client.clinic),
        "iat_ms": int(now.timestamp() * 1000),
    }
    return {
        "access_token": create_access_token(str(client.pk), additional_claims=claims),
        "token_type": "Bearer",  # nosec B105
        "expires_in": ttl_seconds,
        "scope": SCOPE,
    }


def describe(client: ApiClient) -> dict:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "created_at": client.created_at,
        "revoked_at": client.revoked_at,
        "last_token_at": client.last_token_at,
    }
