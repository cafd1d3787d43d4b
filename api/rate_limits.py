"""Rate-limit keys and limits shared by the routes that guard against guessing and abuse.

Limits are read from the settings (`*_RATE_LIMIT`, see api/config.py) when a request comes,
so tests and deployments may set them. Counters live in MongoDB, shared by every worker.
"""

import hashlib
from collections.abc import Callable

from flask import current_app, g, request

from api.extensions import limiter
from api.services.identity.accounts import normalise_email


def setting(name: str) -> Callable[[], str]:
    def limit() -> str:
        return current_app.config[name]

    return limit


def per_address(scope: str) -> Callable[[], str]:
    def key() -> str:
        return f"{scope}:{request.remote_addr or '-'}"

    return key


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def per_account_and_address(scope: str, email_of: Callable[[], object]) -> Callable[[], str]:
    """One account from one address: a guesser's budget; others' guesses never lock it.

    The API's JSON login and the console's form share a budget through one `scope`; the
    account is hashed, so no counter names the person."""

    def key() -> str:
        email = email_of()
        account = _digest(normalise_email(email)) if isinstance(email, str) else "-"
        return f"{scope}:{account}:{request.remote_addr or '-'}"

    return key


def code_limit(scope: str, key_func: Callable[[], str]) -> Callable:
    """Refused one-time codes (422) in the CODE_RATE_LIMIT budget `scope` names: routes that
    redeem the same kind of code share it."""
    return limiter.shared_limit(
        setting("CODE_RATE_LIMIT"),
        scope=scope,
        key_func=key_func,
        deduct_when=when_status(422),
    )


def login_limits(email_of: Callable[[], object]) -> Callable:
    """Failed sign-ins (401), counted per (account, address) and per address, in budgets the
    API's login and the console's share; the identity service adds its growing per-account
    delay on top."""

    def decorate(view):
        view = limiter.shared_limit(
            setting("LOGIN_ADDRESS_RATE_LIMIT"),
            scope="login-address",
            key_func=per_address("login-address"),
            deduct_when=when_status(401),
        )(view)
        return limiter.shared_limit(
            setting("LOGIN_RATE_LIMIT"),
            scope="login-account",
            key_func=per_account_and_address("login-account", email_of),
            deduct_when=when_status(401),
        )(view)

    return decorate


def per_caller(scope: str) -> Callable[[], str]:
    """The signed-in account (the route authenticates first), else the client address.

    The account's id is hashed: a counter is no record of the person, and outlives an erasure."""

    def key() -> str:
        caller_id = g.get("caller_id")
        if caller_id:
            return f"{scope}:{_digest(str(caller_id))}"
        return f"{scope}:{request.remote_addr or '-'}"

    return key


def when_status(*statuses: int) -> Callable:
    """Count only the answers that mean a wrong guess (a refused code or password)."""

    def counted(response) -> bool:
        return response.status_code in statuses

    return counted
