"""Accounts: creating users and changing what they may change about themselves."""

from mongoengine.errors import NotUniqueError

from api.clock import utcnow
from api.errors import Conflict
from api.models.user import User
from api.services.identity.passwords import hash_password


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    password_hash: str | None = None,
    specialty: str | None = None,
    **profile,
) -> User:
    """Create an account; 409 when the email (in any letter case) is already taken.

    Without a password (a provider an admin created), it cannot sign in until one is set."""
    now = utcnow()
    user = User(
        email=normalise_email(email),
        password_hash=hash_password(password) if password is not None else password_hash,
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
