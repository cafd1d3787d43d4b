"""Patient-local calendar days and ISO weeks, DST included.

A local day runs from local midnight to the next local midnight, so it lasts 23 or 25 hours
on the days the clocks change; `zoneinfo` does the arithmetic. Dates travel as "YYYY-MM-DD"
strings in stored documents because they sort and compare correctly as text.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = "day"
WEEK = "week"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(instant: datetime, tz: str | None) -> date:
    return instant.astimezone(zone(tz)).date()


def day_start(day: date, tz: str | None) -> datetime:
    """The first instant of local day `day` (as UTC): midnight, or the moment the clocks
    jumped to where a spring-forward skips midnight itself."""
    place = zone(tz)
    candidates = [
        datetime.combine(day, time(0), tzinfo=place).replace(fold=fold).astimezone(UTC)
        for fold in (0, 1)
    ]
    return min(c for c in candidates if local_date(c, tz) == day)


def today(now: datetime, tz: str | None) -> date:
    return local_date(now, tz)


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.isoweekday() - 1)


def period_start(day: date, period: str) -> date:
    return week_start(day) if period == WEEK else day


def period_key(day: date, period: str) -> str:
    """ "2025-03-09" for a day, "2025-W01" for an ISO week (its ISO year, not the calendar's)."""
    if period == WEEK:
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return day.isoformat()


def periods(first: date, last: date, period: str) -> list[date]:
    """The start dates of every period overlapping [first, last], oldest first."""
    step = timedelta(days=7 if period == WEEK else 1)
    current, found = period_start(first, period), []
    while current <= last:
        found.append(current)
        current += step
    return found
