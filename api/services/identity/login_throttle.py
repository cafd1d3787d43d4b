"""The account-wide brake on password guessing: a growing delay, never a hard lock.

Failures are limited per (account, client address) and per address by the rate limiter; this
counts an account's failures from every address. The first `FREE_FAILURES` cost nothing (far
more than one attacker gets per address), then each further failure doubles the wait before
the next attempt is heard, up to `MAX_DELAY`. A successful sign-in, or a quiet day, resets it.
"""

import math
from datetime import datetime, timedelta

from api.errors import ApiError
from api.models.login_failure import LoginFailures

FREE_FAILURES = 20
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)


class TooManyAttempts(ApiError):
    status = 429


def delay_after(count: int) -> timedelta:
    """The wait after the `count`-th failure: none within the free ones, then 1 s, 2 s, 4 s..."""
    if count < FREE_FAILURES:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(count - FREE_FAILURES, 20)), MAX_DELAY)


def check(account: str, now: datetime) -> None:
    """429 with Retry-After while the account's delay runs."""
    failures = LoginFailures.objects(id=account).first()
    if failures is None:
        return
    wait = failures.last_at + delay_after(failures.count) - now
    if wait > timedelta(0):
        raise TooManyAttempts(
            "Too many failed sign-ins for this account; wait before trying again.",
            # One second more: the rate limiter rewrites Retry-After from a floored instant.
            headers={"Retry-After": str(math.ceil(wait.total_seconds()) + 1)},
        )


def failed(account: str, now: datetime) -> None:
    LoginFailures.objects(id=account).update_one(
        upsert=True, inc__count=1, set__last_at=now, set__expires_at=now + FORGET_AFTER
    )


def succeeded(account: str) -> None:
    LoginFailures.objects(id=account).delete()
