"""Ninety days of log entries for one patient's agreement, as the app would have sent them.

Plain functions of the patient's story and a seeded generator: each goal gets the readings or
check-offs a person following (or not following) that plan would log, in the clinic's local
time. The entries are the JSON items of `POST .../logs/batch`.
"""

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from api.demo.cast import (
    NOCTURNAL_LOWS,
    PEAK_FLOW_DIP,
    RISING_BP,
    SILENT,
    SLIPPING,
    demo_random,
)
from api.demo.team import local_instant

ENTRY_NAMESPACE = uuid.UUID("6f1d2c1e-8d0a-4c6b-9a57-2f4d1b7c9e30")
SLIP_DAYS = 14
SILENT_DAYS = 10
RISE_DAYS = 21
DIP_DAYS = 5
NIGHT_LOW_NIGHTS = 21


def peak_flow_best(person) -> int:
    """The patient's personal best peak flow (L/min), which the zone rule is set to."""
    return demo_random(f"{person.seed}:pb").randrange(380, 521, 10)


def day_goes_well(person, rng, days_ago: int) -> bool:
    chance = person.adherence
    if person.story == SLIPPING and days_ago < SLIP_DAYS:
        chance = 0.25
    return rng.random() < chance


def _at(day: date, hour: int, minute: int, rng, spread: int = 20) -> datetime:
    moved = timedelta(minutes=hour * 60 + minute + rng.randint(-spread, spread))
    return local_instant(day, time()) + moved


# --- one day of one goal: [(when, value)] ---------------------------------------------------


def _glucose(person, goal, day, days_ago, good, rng):
    """Before breakfast every day, before dinner now and then (not every day is checked
    twice); a day off plan is unlogged or has a high before dinner."""
    morning, evening = _at(day, 7, 30, rng), _at(day, 17, 30, rng)
    if good:
        readings = [(morning, rng.randint(92, 150))]
        if rng.random() < 0.1:
            readings.append((evening, rng.randint(100, 168)))
    elif rng.random() < 0.5:
        readings = []
    else:
        readings = [(morning, rng.randint(95, 150)), (evening, rng.randint(186, 262))]
    if person.story == NOCTURNAL_LOWS and days_ago < NIGHT_LOW_NIGHTS and days_ago % 3 == 1:
        readings.append((_at(day, 3, 10, rng), rng.randint(55, 66)))
    return readings


def _daily_total(low, high, over_low, over_high, hour, minute):
    """A day's total logged in the evening (carbohydrates, sodium): within the limit on a
    good day; a day off plan is unlogged or over it."""

    def day_of(person, goal, day, days_ago, good, rng):
        if good:
            return [(_at(day, hour, minute, rng), rng.randint(low, high))]
        if rng.random() < 0.5:
            return []
        return [(_at(day, hour, minute, rng), rng.randint(over_low, over_high))]

    return day_of


def _exercise(person, goal, day, days_ago, good, rng):
    if goal.period == "week":
        if good and rng.random() < 0.55:
            return [(_at(day, 18, 0, rng, 45), rng.randrange(35, 65, 5))]
        return []
    if good:
        return [(_at(day, 16, 30, rng, 40), rng.randrange(35, 75, 5))]
    return [(_at(day, 16, 30, rng, 40), rng.randrange(10, 25, 5))] if rng.random() < 0.5 else []


def _doses(person, goal, day, days_ago, good, rng):
    """The day's doses checked off in the evening (a missed one is logged as fewer)."""
    wanted = int(goal.target.value)
    taken = wanted if good else rng.randint(0, wanted - 1)
    return [(_at(day, 20, 0, rng, 15), taken)] if taken else []


def _peak_flow(person, goal, day, days_ago, good, rng):
    best = peak_flow_best(person)
    if person.story == PEAK_FLOW_DIP and days_ago < DIP_DAYS:
        return [(_at(day, 7, 45, rng), round(best * rng.uniform(0.62, 0.74)))]
    if not good:
        return [] if rng.random() < 0.6 else [(_at(day, 7, 45, rng), 280)]
    return [(_at(day, 7, 45, rng), round(best * rng.uniform(0.86, 1.0)))]


def _systolic(person, goal, day, days_ago, good, rng):
    if person.story == RISING_BP and days_ago < RISE_DAYS:
        climbed = (RISE_DAYS - days_ago) * 1.6
        return [(_at(day, 7, 15, rng), round(131 + climbed + rng.uniform(-4, 4)))]
    if good:
        return [(_at(day, 7, 15, rng), rng.randint(114, 132))]
    return [] if rng.random() < 0.5 else [(_at(day, 7, 15, rng), rng.randint(138, 152))]


def _check_off(person, goal, day, days_ago, good, rng):
    return [(_at(day, 19, 0, rng, 30), 1)] if good else []


DAY_OF: dict[str, Callable] = {
    "blood_glucose": _glucose,
    "carbohydrates": _daily_total(120, 175, 190, 250, 20, 0),
    "exercise_minutes": _exercise,
    "medication_doses": _doses,
    "peak_flow": _peak_flow,
    "blood_pressure_systolic": _systolic,
    "sodium": _daily_total(1300, 1900, 2100, 2900, 20, 30),
    "custom": _check_off,
}


# --- the whole history ----------------------------------------------------------------------


def _glucose_story(person, readings: list[tuple[datetime, float]], today: date, now: datetime):
    """The endings the alerts are about: last night's low is the latest glucose reading; or
    the latest reading and one two days before it are above 300."""
    readings.sort()
    if person.story == NOCTURNAL_LOWS:
        night = local_instant(today, time(3, 5))
        if night > now - timedelta(minutes=10):
            night -= timedelta(days=1)
        readings[:] = [r for r in readings if r[0] < night - timedelta(hours=1)]
        readings.append((night, 51))
    if person.highs and readings:
        last_at, _ = readings[-1]
        readings[-1] = (last_at, 318)
        readings.append((last_at - timedelta(days=2, hours=1), 306))
        readings.sort()


def entries_for(person, agreement, *, today: date, now: datetime, first_at: datetime):
    """The batch items of one agreement: every goal, from `first_at` (after the agreement was
    accepted) to `now`, oldest first."""
    items = []
    for goal in agreement.content.goals:
        rng = demo_random(f"{person.seed}:{agreement.template_id}:{goal.measure}:{goal.period}")
        logged = []
        for days_ago in range(89, -1, -1):
            day = today - timedelta(days=days_ago)
            good = day_goes_well(person, rng, days_ago)
            if person.story == SILENT and days_ago < SILENT_DAYS:
                continue
            logged += DAY_OF[goal.measure](person, goal, day, days_ago, good, rng)
        logged = [(at, v) for at, v in logged if first_at < at <= now - timedelta(minutes=1)]
        if goal.measure == "blood_glucose":
            _glucose_story(person, logged, today, now)
        items += [_item(person, agreement, goal, at, value) for at, value in logged]
    return sorted(items, key=lambda item: item["occurred_at"])


def _item(person, agreement, goal, at: datetime, value: float) -> dict:
    stamp = at.isoformat(timespec="seconds")
    return {
        "id": str(uuid.uuid5(ENTRY_NAMESPACE, f"{person.key}:{goal.id}:{stamp}")),
        "agreement_id": str(agreement.pk),
        "goal_id": goal.id,
        "occurred_at": stamp,
        "value": value,
        "unit": goal.unit,
    }
