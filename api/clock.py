"""The one place the current time comes from, so services can be given `now` explicitly."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
