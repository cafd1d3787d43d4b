"""Password hashing with argon2id (memory-hard).

Tests use a lighter argon2id profile (the `test` environment only; production refuses it)
so that creating hundreds of accounts stays fast; verification reads the parameters from
each stored hash, so hashes of either profile verify anywhere.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.services.identity import settings

HASH_PROFILES = {
    "standard": PasswordHasher(),
    "light": PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1),
}
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASHES = {
    name: hasher.hash("carepact-timing-equaliser") for name, hasher in HASH_PROFILES.items()
}


def _profile() -> str:
    return settings.current().hash_profile


def hash_password(password: str) -> str:
    return HASH_PROFILES[_profile()].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = HASH_PROFILES[_profile()]
    try:
        return hasher.verify(password_hash or _DUMMY_HASHES[_profile()], password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
