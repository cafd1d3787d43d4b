"""Sign-up, sign-in, token refresh and sign-out."""

from flask import current_app, request
from flask_jwt_extended import get_jwt

from api.access import authenticated
from api.clock import utcnow
from api.extensions import Blueprint, limiter
from api.schemas.accounts import LoginSchema, ProfileSchema, RegisterSchema, TokenPairSchema
from api.services.flows import memberships
from api.services.identity import sessions
from api.services.identity.accounts import normalise_email

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")


def _login_account_address_key() -> str:
    """One account from one address: a guesser's budget; others' guesses never lock it."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    account = normalise_email(email) if isinstance(email, str) else "-"
    return f"login-account:{account}:{request.remote_addr or '-'}"


def _login_address_key() -> str:
    return "login-address:" + (request.remote_addr or "-")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_address_limit() -> str:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _failed(response) -> bool:
    return response.status_code == 401


@blp.route("/register", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(RegisterSchema)
@blp.response(201, ProfileSchema)
@blp.alt_response(409, description="An account with this email already exists.")
def register(data):
    """Patient sign-up; with `invite_code`, also join that provider's care team."""
    return memberships.register_patient(now=utcnow(), **data)


@blp.route("/login", methods=["POST"])
@blp.doc(security=[])
@limiter.limit(_login_limit, key_func=_login_account_address_key, deduct_when=_failed)
@limiter.limit(_login_address_limit, key_func=_login_address_key, deduct_when=_failed)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="The email or password is not correct.")
@blp.alt_response(
    429,
    description="Too many failed attempts from this address, or for this account from "
    "anywhere (a growing delay); see Retry-After.",
)
def login(data):
    """Exchange an email and password for an access and a refresh token."""
    return sessions.login(**data)


@blp.route("/refresh", methods=["POST"])
@authenticated(refresh=True)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Invalid, expired, spent or revoked refresh token.")
def refresh():
    """Send the refresh token as the bearer token; the old one is spent."""
    return sessions.refresh(get_jwt())


@blp.route("/logout", methods=["POST"])
@authenticated()
@blp.response(204)
def logout():
    """Revoke this access token and every refresh token of its sign-in."""
    sessions.logout(get_jwt())
