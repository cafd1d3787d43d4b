"""ISO 8601 check-up intervals: parsing and calendar arithmetic (month ends, leap years)."""

from datetime import date

import pytest

from api.services.common.intervals import Interval, add_interval, check_interval, parse_interval


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("P3M", (0, 3, 0)),
        ("P1Y", (1, 0, 0)),
        ("P2W", (0, 0, 14)),
        ("P10D", (0, 0, 10)),
        ("P1Y6M", (1, 6, 0)),
        ("P1Y2M3W4D", (1, 2, 25)),
    ],
)
def test_parse(text, parsed):
    assert parse_interval(text) == Interval(*parsed)
    assert tuple(parse_interval(text)) == parsed


@pytest.mark.parametrize(
    "text", ["", "P", "3M", "P3m", "PT1H", "P1DT2H", "P-1M", "P1.5M", "P3M ", "p3m", "P3M1Y"]
)
def test_unparseable(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_interval(text)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("P1D", True), ("P10Y", True), ("P0D", False), ("P11Y", False), ("P0Y0M", False)],
)
def test_bounds(text, accepted):
    if accepted:
        assert check_interval(text) == parse_interval(text)
    else:
        with pytest.raises(ValueError):
            check_interval(text)


@pytest.mark.parametrize(
    ("start", "text", "times", "expected"),
    [
        (date(2026, 1, 15), "P3M", 1, date(2026, 4, 15)),
        (date(2026, 1, 31), "P1M", 1, date(2026, 2, 28)),
        (date(2028, 1, 31), "P1M", 1, date(2028, 2, 29)),
        (date(2028, 2, 29), "P1Y", 1, date(2029, 2, 28)),
        (date(2026, 11, 30), "P3M", 1, date(2027, 2, 28)),
        (date(2026, 1, 15), "P3M", 4, date(2027, 1, 15)),
        (date(2026, 12, 25), "P2W", 1, date(2027, 1, 8)),
        (date(2026, 1, 31), "P1M1D", 1, date(2026, 3, 1)),
    ],
)
def test_add_interval(start, text, times, expected):
    assert add_interval(start, parse_interval(text), times) == expected


def test_approximate_days():
    assert parse_interval("P3M").approximate_days == 91
    assert parse_interval("P1Y").approximate_days == 365
    assert parse_interval("P2W").approximate_days == 14
