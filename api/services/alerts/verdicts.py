"""Comparing readings with an alert rule: thresholds, zones, windows, and how a rule reads.

Plain functions of a rule document and canonical values; nothing here reads or writes.
"""

import re
from datetime import UTC, datetime, timedelta

from api.services.common import local_days
from api.services.common.intervals import add_interval, check_interval
from api.services.tracking import glucose_entries, measures


def canonical(rule: dict, value: float) -> float:
    return measures.to_canonical(measures.get(rule["measure"]), value, rule["unit"])


def breaches(rule: dict, value: float) -> bool:
    """Whether a canonical `value` is beyond a threshold rule (above/below are strict)."""
    limit = canonical(rule, rule["value"])
    op = rule["op"]
    if op == "above":
        return value > limit
    if op == "below":
        return value < limit
    if op == "at_least":
        return value >= limit
    return value <= limit


def zone_level(rule: dict, value: float) -> str | None:
    """ "red", "yellow" or None (green) against the rule's personal best."""
    percent = 100.0 * value / canonical(rule, rule["personal_best"])
    if percent < rule["red_below"]:
        return "red"
    if percent < rule["yellow_below"]:
        return "yellow"
    return None


def out_of_range(rule: dict, value: float) -> bool:
    if rule["kind"] == "zone":
        return zone_level(rule, value) is not None
    return breaches(rule, value)


def shift(instant: datetime, within: str, tz: str | None, sign: int) -> datetime:
    """`instant` moved by the duration on the patient's wall clock (P3D across the November
    fall-back is 73 hours), as a UTC instant; a time duration (PT30M, CGM rules) is elapsed
    time."""
    if within.startswith("PT"):
        minutes = sum(
            int(n) * (60 if unit == "H" else 1) for n, unit in re.findall(r"(\d+)([HM])", within)
        )
        return instant + sign * timedelta(minutes=minutes)
    zone = local_days.zone(tz)
    local = instant.astimezone(zone)
    day = add_interval(local.date(), check_interval(within), sign)
    moved = datetime.combine(day, local.time(), tzinfo=zone).replace(fold=local.fold)
    return moved.astimezone(UTC)


def describe(rule: dict, level: str | None = None) -> str:
    measure = measures.get(rule["measure"])
    name = measure.display or measure.name
    if rule["kind"] == "no_data":
        return f"No {name.lower()} logged within {rule['within']}"
    if rule["kind"] == "zone":
        limit = rule["red_below"] if level == "red" else rule["yellow_below"]
        return (
            f"{name} in the {level or 'yellow'} zone (below {limit:g} % of the personal best "
            f"of {rule['personal_best']:g} {rule['unit']})"
        )
    words = {
        "above": "above",
        "below": "below",
        "at_least": "at or above",
        "at_most": "at or below",
    }
    text = f"{name} {words[rule['op']]} {rule['value']:g} {rule['unit']}"
    if rule["measure"] == glucose_entries.SENSOR_MEASURE and rule.get("within"):
        return f"{text} for {rule['within'][2:].lower()}"
    if rule.get("count", 1) > 1:
        text += f", {rule['count']} times within {rule['within']}"
    return text
