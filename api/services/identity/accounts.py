"""Accounts: creating users and changing what they may change about themselves."""

from datetime import datetime

from mongoengine.errors import NotUniqueError

from api.clock import utcnow
from api.errors import Conflict, ValidationFailed
from api.models.user import User
from api.services.care import care_team
from api.services.identity.passwords import hash_password


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    *, email: str, password: str, name: str, role: str, specialty: str | None = None, **profile
) -> User:
    """Create an account; 409 when the email (in any letter case) is already taken."""
    now = utcnow()
    user = User(
        email=normalise_email(email),
        password_hash=hash_password(password),
        name=name.strip(),
        role=role,
        specialty=specialty.strip().lower() if specialty else None,
        created_at=now,
        updated_at=now,
        **profile,
    )
    try:
        user.save(force_insert=True)
    except NotUniqueError:
        raise Conflict("An account with this email already exists.") from None
    return user


def find_by_email(email: str) -> User | None:
    return User.objects(email=normalise_email(email)).first()


def register_patient(*, invite_code: str | None = None, now: datetime, **fields):
    """Patient sign-up; a valid invite code also joins that provider's care team.
    Returns (user, the membership it started or None)."""
    if invite_code:
        care_team.check_invitation(invite_code)
    user = create_user(role="patient", **fields)
    joined = None
    if invite_code:
        try:
            member, changed = care_team.join_with_code(user, invite_code, now)
            joined = member if changed else None
        except Exception as error:
            user.delete()
            if isinstance(error, ValidationFailed):
                # Someone redeemed the code between the check and the join.
                raise care_team.as_invite_code_error(error) from None
            raise
    return user, joined
