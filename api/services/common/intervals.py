"""ISO 8601 calendar durations (`P3M`, `P1Y`, `P2W`, `P1Y6M`) for check-up intervals.

Only date parts are meaningful for check-ups, so time parts (`PT1H`) are refused. Months and
years are calendar units: adding `P1M` to 31 January gives the last day of February.
"""

import calendar
import re
from datetime import date, timedelta
from typing import NamedTuple

_DURATION = re.compile(r"P(?:(\d{1,4})Y)?(?:(\d{1,4})M)?(?:(\d{1,4})W)?(?:(\d{1,5})D)?")
# Longest interval a check-up may have; anything longer is a typo, not a schedule.
MAX_DAYS = 10 * 366


class Interval(NamedTuple):
    years: int
    months: int
    days: int  # weeks are folded into days

    @property
    def approximate_days(self) -> int:
        """Days in the interval with average month lengths, for sizes and comparisons."""
        return round(self.years * 365.25 + self.months * 30.44 + self.days)


def parse_interval(text: str) -> Interval:
    """`"P3M"` → Interval(0, 3, 0); raise ValueError unless a non-empty PnYnMnWnD duration."""
    match = _DURATION.fullmatch(text or "")
    if match is None or not any(match.groups()):
        raise ValueError("Must be an ISO 8601 duration such as P3M, P1Y, P2W or P10D.")
    years, months, weeks, days = (int(part or 0) for part in match.groups())
    return Interval(years, months, weeks * 7 + days)


def add_interval(day: date, interval: Interval, times: int = 1) -> date:
    """`day` moved forward by `interval` (`times` over); month ends clamp (31 Jan + P1M)."""
    months_total = day.month - 1 + (interval.years * 12 + interval.months) * times
    year, month = day.year + months_total // 12, months_total % 12 + 1
    clamped = min(day.day, calendar.monthrange(year, month)[1])
    return date(year, month, clamped) + timedelta(days=interval.days * times)


def check_interval(text: str) -> Interval:
    """Parse and bound an interval: at least a day, at most ten years (ValueError otherwise)."""
    interval = parse_interval(text)
    if not 1 <= interval.approximate_days <= MAX_DAYS:
        raise ValueError("Must be between one day (P1D) and ten years (P10Y).")
    return interval
