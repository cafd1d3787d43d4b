"""Deterministic CGM traces for tests, the demo and the benchmarks.

A day of a person with type 1 or 2 diabetes wearing a five-minute CGM, in their local time:
a fasting baseline with a dawn rise, three meals (rise over about an hour, back over three),
an afternoon walk on some days (a fall), a nocturnal low on some nights, a compression low
(the sensor pressed while sleeping on it: a sharp, short false low) on some nights, and a
sensor change every ten days whose two-hour warm-up sends nothing. The same seed gives the
same trace. Values are whole mg/dL between 40 and 400, as sensors report them.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from api.services.common import local_days

STEP = timedelta(minutes=5)
SENSOR_DAYS = 10
WARM_UP = timedelta(hours=2)
MEALS = ((7.5, 55.0), (12.5, 70.0), (19.0, 85.0))  # local hour, typical rise in mg/dL


@dataclass(frozen=True)
class Profile:
    """How a trace behaves: higher `baseline` and `meal_scale` for poorer control."""

    baseline: float = 125.0
    meal_scale: float = 1.0
    low_night_chance: float = 0.15
    compression_chance: float = 0.1
    walk_chance: float = 0.4
    noise: float = 4.0


def _bump(hours_since: float, peak_at: float = 1.0) -> float:
    """A meal's rise: 0 before, 1 at its peak, tailing off over a few hours."""
    if hours_since <= 0:
        return 0.0
    x = hours_since / peak_at
    return x * math.exp(1 - x)


def _day_plan(rng: random.Random, profile: Profile) -> dict:
    return {
        "meals": [
            (hour + rng.uniform(-0.5, 0.5), rise * profile.meal_scale * rng.uniform(0.6, 1.5))
            for hour, rise in MEALS
        ],
        "walk": rng.uniform(16.5, 18.5) if rng.random() < profile.walk_chance else None,
        "low_night": rng.uniform(2.0, 4.5) if rng.random() < profile.low_night_chance else None,
        "compression": rng.uniform(1.0, 5.0) if rng.random() < profile.compression_chance else None,
    }


def _value(hour: float, plan: dict, previous_plan: dict | None, profile: Profile) -> float:
    value = profile.baseline + 15 * math.exp(-(((hour - 6.0) / 1.5) ** 2))  # dawn rise
    for meal_hour, rise in plan["meals"]:
        value += rise * _bump(hour - meal_hour)
    if previous_plan is not None:  # the evening meal's tail runs past midnight
        meal_hour, rise = previous_plan["meals"][-1]
        value += rise * _bump(hour + 24 - meal_hour)
    if plan["walk"] is not None:
        value -= 35 * _bump(hour - plan["walk"], peak_at=0.75)
    if plan["low_night"] is not None:
        value -= (profile.baseline - 58) * math.exp(-(((hour - plan["low_night"]) / 0.6) ** 2))
    if plan["compression"] is not None and 0 <= hour - plan["compression"] < 0.35:
        value -= 60
    return value


def _direction(delta_per_5min: float) -> str:
    for limit, name in ((-15, "DoubleDown"), (-10, "SingleDown"), (-5, "FortyFiveDown")):
        if delta_per_5min <= limit:
            return name
    for limit, name in ((15, "DoubleUp"), (10, "SingleUp"), (5, "FortyFiveUp")):
        if delta_per_5min >= limit:
            return name
    return "Flat"


def trace(
    first_day: date,
    days: int,
    *,
    tz: str = "UTC",
    seed: int = 1,
    profile: Profile | None = None,
    until: datetime | None = None,
    device: str = "xDrip-DexcomG6",
) -> list[dict]:
    """Nightscout `sgv` entries, oldest first, from local midnight of `first_day` for `days`
    local days (and not after `until`)."""
    profile = profile or Profile()
    rng = random.Random(seed)  # noqa: S311  # nosec B311: a simulation, not security
    zone = local_days.zone(tz)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=days), datetime.min.time(), tzinfo=zone)
    end = end.astimezone(UTC)
    if until is not None:
        end = min(end, until)
    plans: dict[date, dict] = {}
    entries, previous = [], None
    at = start
    while at < end:
        local = at.astimezone(zone)
        day = local.date()
        for needed in (day - timedelta(days=1), day):
            if needed not in plans:
                plans[needed] = _day_plan(rng, profile)
        day_index = (day - first_day).days
        sensor_start = datetime.combine(
            first_day + timedelta(days=day_index - day_index % SENSOR_DAYS),
            datetime.min.time(),
            tzinfo=zone,
        ) + timedelta(hours=9)
        warming = sensor_start <= local < sensor_start + WARM_UP
        hour = local.hour + local.minute / 60
        value = _value(hour, plans[day], plans.get(day - timedelta(days=1)), profile)
        value = round(min(400.0, max(40.0, value + rng.gauss(0, profile.noise))))
        if not warming:
            date_ms = round(at.timestamp() * 1000)
            delta = 0.0 if previous is None else value - previous
            entries.append(
                {
                    "type": "sgv",
                    "date": date_ms,
                    "dateString": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "sgv": value,
                    "direction": _direction(delta),
                    "noise": 1,
                    "device": device,
                }
            )
            previous = value
        at += STEP
    return entries
