"""Rate-limit keys and limits shared by the routes that guard against guessing and abuse.

Limits are read from the settings (`*_RATE_LIMIT`, see api/config.py) when a request comes,
so tests and deployments may set them. Counters live in MongoDB, shared by every worker.
"""

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
    """The signed-in account (the route authenticates first), else the client address."""

    def key() -> str:
        return f"{scope}:{g.get('caller_id') or request.remote_addr or '-'}"

    return key


def when_status(*statuses: int) -> Callable:
    """Count only the answers that mean a wrong guess (a refused code or password)."""

    def counted(response) -> bool:
        return response.status_code in statuses

    return counted
