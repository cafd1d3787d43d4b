"""Signing in and out, refreshing, and changing a password."""

from datetime import datetime

from bson import ObjectId

from api.clock import utcnow
from api.errors import Forbidden, Unauthorized, ValidationFailed
from api.models.user import User
from api.services.identity import accounts, login_throttle, signup, tokens
from api.services.identity.passwords import hash_password, verify_password

INVALID_LOGIN = "The email or password is not correct."


def login(*, email: str, password: str, now: datetime | None = None) -> dict:
    """One message, and the same work, whether the email or the password is wrong.

    An account's failures from every address slow its next attempts (`login_throttle`).
    """
    now = now or utcnow()
    account = accounts.normalise_email(email)
    login_throttle.check(account, now)
    user = accounts.find_by_email(email)
    registration = signup.pending(email) if user is None else None
    stored = user.password_hash if user else registration.password_hash if registration else None
    if not verify_password(stored, password) or (user is None and registration is None):
        login_throttle.failed(account, now)
        raise Unauthorized(INVALID_LOGIN)
    login_throttle.succeeded(account)
    if user is None:
        raise Forbidden(
            "Verify your email address first: enter the code we mailed you "
            "(POST /api/v1/auth/verify-email).",
            step="verify-email",
        )
    return tokens.issue_pair(user)


def refresh(refresh_claims: dict) -> dict:
    user = User.objects(pk=ObjectId(refresh_claims["sub"])).first()
    if user is None or not user.has_login:
        raise Unauthorized("The token's account no longer exists.")
    return tokens.rotate(refresh_claims, user)


def logout(access_claims: dict) -> None:
    tokens.revoke_session(access_claims, "logout")


def change_password(user: User, *, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed({"current_password": ["The current password is not correct."]})
    if current_password == new_password:
        raise ValidationFailed({"new_password": ["Choose a password you have not just used."]})
    user.password_hash = hash_password(new_password)
    user.save()
    tokens.revoke_user(user.pk, "password_change")
