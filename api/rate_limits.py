"""Rate-limit keys and limits shared by the routes that guard against guessing and abuse.

Limits are read from the settings (`*_RATE_LIMIT`, see api/config.py) when a request comes,
so tests and deployments may set them. Counters live in MongoDB, shared by every worker.
"""

import hashlib
from collections.abc import Callable

from flask import current_app, g, request


def setting(name: str) -> Callable[[], str]:
    def limit() -> str:
        return current_app.config[name]

    return limit


def per_address(scope: str) -> Callable[[], str]:
    def key() -> str:
        return f"{scope}:{request.remote_addr or '-'}"

    return key


def per_caller(scope: str) -> Callable[[], str]:
    """The signed-in account (the route authenticates first), else the client address.

    The account's id is hashed: a counter is no record of the person, and outlives an erasure."""

    def key() -> str:
        caller_id = g.get("caller_id")
        if caller_id:
            return f"{scope}:{hashlib.sha256(str(caller_id).encode()).hexdigest()[:32]}"
        return f"{scope}:{request.remote_addr or '-'}"

    return key


def when_status(*statuses: int) -> Callable:
    """Count only the answers that mean a wrong guess (a refused code or password)."""

    def counted(response) -> bool:
        return response.status_code in statuses

    return counted
