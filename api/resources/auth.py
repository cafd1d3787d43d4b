"""Sign-up with a mailed code, sign-in, password reset, token refresh and sign-out."""

from flask import request
from flask_jwt_extended import get_jwt

from api.access import authenticated
from api.clock import utcnow
from api.extensions import Blueprint, limiter
from api.rate_limits import code_limit, login_limits, per_address, setting
from api.schemas.accounts import (
    AcceptedSchema,
    LoginSchema,
    RegisterSchema,
    ResetConfirmSchema,
    ResetRequestSchema,
    TokenPairSchema,
    VerifiedSchema,
    VerifyEmailSchema,
)
from api.services.flows import memberships
from api.services.identity import recovery, sessions, signup, tokens

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")
ACCEPTED = {"detail": "If the address can be used, a mail with the next step is on its way."}


def _json_email():
    body = request.get_json(silent=True)
    return body.get("email") if isinstance(body, dict) else None


@blp.route("/register", methods=["POST"])
@blp.doc(security=[])
@limiter.limit(setting("REGISTER_RATE_LIMIT"), key_func=per_address("register"))
@blp.arguments(RegisterSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(429, description="Too many sign-ups from this address; see Retry-After.")
def register(data):
    """Patient sign-up: 202 whatever the address; the mail carries a code (24 hours) for
    `POST /auth/verify-email`, or tells an address's owner that someone tried it."""
    signup.register(**data, now=utcnow())
    return ACCEPTED


@blp.route("/verify-email", methods=["POST"])
@blp.doc(security=[])
@code_limit("account-code", per_address("account-code"))
@blp.arguments(VerifyEmailSchema)
@blp.response(200, VerifiedSchema)
@blp.alt_response(422, description="The code is wrong, expired, used or tried five times.")
@blp.alt_response(429, description="Too many wrong codes from this address.")
def verify_email(data):
    """Activate the account with the mailed code; signs in (the token pair)."""
    user, joined = memberships.verify_email(**data, now=utcnow())
    return {**tokens.issue_pair(user), "user_id": str(user.pk), "care_team_joined": joined}


@blp.route("/password-reset", methods=["POST"])
@blp.doc(security=[])
@limiter.limit(setting("PASSWORD_RESET_RATE_LIMIT"), key_func=per_address("password-reset"))
@blp.arguments(ResetRequestSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(429, description="Too many requests from this address.")
def request_password_reset(data):
    """202 whatever the address; an account's owner is mailed a code valid 30 minutes."""
    recovery.request_reset(**data, now=utcnow())
    return ACCEPTED


@blp.route("/password-reset/confirm", methods=["POST"])
@blp.doc(security=[])
@code_limit("account-code", per_address("account-code"))
@blp.arguments(ResetConfirmSchema)
@blp.response(204)
@blp.alt_response(422, description="The code is wrong, expired, used or tried five times.")
@blp.alt_response(429, description="Too many wrong codes from this address.")
def confirm_password_reset(data):
    """Set a new password with the mailed code (also a new provider's first password);
    every token of the account is revoked."""
    recovery.confirm_reset(**data, now=utcnow())


@blp.route("/login", methods=["POST"])
@blp.doc(security=[])
@login_limits(_json_email)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="The email or password is not correct.")
@blp.alt_response(
    403, description="The password is right but the email is not verified yet (`step`)."
)
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
