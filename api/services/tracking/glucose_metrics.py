"""The CGM metrics clinicians read, per the International Consensus on Time in Range
(Battelino et al., Diabetes Care 2019;42:1593-1603), from the patient-day histograms.

Ranges (mg/dL, as percentages of readings): very low < 54; low 54 to < 70; in range 70 to
180; high > 180 to 250; very high > 250. So 53.9 is very low and 54 low, 69.9 low and 70 in
range, 180 in range and 180.1 high, 250 high and 250.1 very high. GMI (%) = 3.31 + 0.02392 x
mean mg/dL. SD is the sample standard deviation. Wear is the five-minute slots with a reading
over those the window has had so far (the current day up to now); the data are
sufficient at 70 % wear. AGP percentiles interpolate linearly between ranks, per local hour.

Reading `days` local days costs `days` small documents, however long the history.
"""

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from api.services.common import local_days
from api.services.tracking import glucose, measures

MIN_DAYS, MAX_DAYS = 1, 90
# Range limits in tenths of mg/dL, the unit of the histograms.
VERY_LOW_BELOW, LOW_BELOW, IN_RANGE_UP_TO, HIGH_UP_TO = 540, 700, 1800, 2500
RANGES = ("very_low", "low", "in_range", "high", "very_high")
PERCENTILES = (5, 25, 50, 75, 95)
SUFFICIENT_WEAR = 70.0


def range_of(tenths: int) -> str:
    if tenths < VERY_LOW_BELOW:
        return "very_low"
    if tenths < LOW_BELOW:
        return "low"
    if tenths <= IN_RANGE_UP_TO:
        return "in_range"
    if tenths <= HIGH_UP_TO:
        return "high"
    return "very_high"


def read_days(patient_id, first: date, last: date) -> list[dict]:
    return list(
        glucose.days().find(
            {"patient": patient_id, "day": {"$gte": first.isoformat(), "$lte": last.isoformat()}},
            {"n": 1, "w": 1, "h": 1, "day": 1},
        )
    )


def window_minutes(first: date, last: date, tz: str | None, now: datetime) -> float:
    """Minutes from the local start of `first` to the end of `last`, or to now if sooner."""
    zone = local_days.zone(tz)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    end = min(end.astimezone(UTC), now)
    return max((end - start).total_seconds() / 60, 0.0)


def _percentile(histogram: list[tuple[int, int]], total: int, p: float) -> float:
    """The p-th percentile (linear between ranks) of the values a sorted histogram holds."""
    rank = p / 100 * (total - 1)
    low_index, high_index = math.floor(rank), math.ceil(rank)
    low_value = high_value = None
    seen = 0
    for value, count in histogram:
        seen += count
        if low_value is None and seen > low_index:
            low_value = value
        if seen > high_index:
            high_value = value
            break
    return low_value + (high_value - low_value) * (rank - low_index)


def summarize(docs: list[dict], minutes: float) -> dict:
    """The figures in mg/dL of the days' histograms, over a window of `minutes`."""
    overall: Counter = Counter()
    by_hour: dict[int, Counter] = {}
    for doc in docs:
        for hour, bins in (doc.get("h") or {}).items():
            counter = by_hour.setdefault(int(hour), Counter())
            for tenths, count in bins.items():
                counter[int(tenths)] += count
                overall[int(tenths)] += count
    total = sum(overall.values())
    expected = minutes / glucose.SLOT_MINUTES
    worn = sum(doc.get("w") or 0 for doc in docs)
    wear = min(100.0, 100.0 * worn / expected) if expected else 0.0
    figures = {
        "readings": total,
        "wear_percent": round(wear, 1),
        "sufficient": wear >= SUFFICIENT_WEAR,
        "mean": None,
        "sd": None,
        "cv_percent": None,
        "gmi_percent": None,
        "time_in_ranges": dict.fromkeys(RANGES),
        "agp": [],
    }
    if not total:
        return figures
    mean = sum(t * c for t, c in overall.items()) / total / 10
    squares = sum(c * (t / 10 - mean) ** 2 for t, c in overall.items())
    sd = math.sqrt(squares / (total - 1)) if total > 1 else 0.0
    in_ranges = Counter()
    for tenths, count in overall.items():
        in_ranges[range_of(tenths)] += count
    figures.update(
        mean=mean,
        sd=sd,
        cv_percent=round(100 * sd / mean, 1),
        gmi_percent=round(3.31 + 0.02392 * mean, 1),
        time_in_ranges={name: round(100 * in_ranges[name] / total, 1) for name in RANGES},
    )
    for hour in sorted(by_hour):
        bins = sorted(by_hour[hour].items())
        count = sum(c for _, c in bins)
        point = {"hour": hour, "readings": count}
        for p in PERCENTILES:
            point[f"p{p}"] = _percentile(bins, count, p) / 10
        figures["agp"].append(point)
    return figures


def _shown(value: float | None, unit: str) -> float | None:
    if value is None:
        return None
    converted = measures.from_canonical(measures.get("blood_glucose"), value, unit)
    return round(converted, 2 if unit == "mmol/L" else 1)


def report(patient_id, *, days: int, tz: str | None, unit: str | None, now: datetime) -> dict:
    """GET .../glucose: the last `days` local days, today included up to now."""
    unit = unit or "mg/dL"
    last = local_days.today(now, tz)
    first = last - timedelta(days=days - 1)
    figures = summarize(read_days(patient_id, first, last), window_minutes(first, last, tz, now))
    figures["mean"] = _shown(figures["mean"], unit)
    figures["sd"] = _shown(figures["sd"], unit)
    for point in figures["agp"]:
        for p in PERCENTILES:
            point[f"p{p}"] = _shown(point[f"p{p}"], unit)
    return {"from": first, "to": last, "timezone": tz or "UTC", "unit": unit, **figures}
