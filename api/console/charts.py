"""Readings charts as inline SVG geometry: the readings over time against the target band,
and the modal day (median, 25-75 % and 5-95 % bands by hour of the patient's day).

Plain numbers in, coordinates out; the templates draw them with CSS classes only (the
console's CSP allows no inline style).
"""

from dataclasses import dataclass, field
from datetime import datetime
from statistics import quantiles

WIDTH = 600
HEIGHT = 160
PAD_LEFT = 36
PAD_BOTTOM = 18


@dataclass
class Scale:
    low: float
    high: float

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return round((HEIGHT - PAD_BOTTOM) * (1 - (value - self.low) / span), 1)

    def ticks(self, n: int = 4) -> list[tuple[float, str]]:
        step = (self.high - self.low) / n
        return [(self.y(self.low + i * step), f"{self.low + i * step:g}") for i in range(n + 1)]


@dataclass
class ReadingsChart:
    title: str
    unit: str
    tz: str
    count: int
    band: tuple[float, float] | None  # y of the target band's top and bottom
    ticks: list
    dots: list = field(default_factory=list)  # (x, y, out_of_target, label)
    day_marks: list = field(default_factory=list)  # (x, label)
    profile: dict | None = None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = PAD_LEFT


def _scale(values: list[float], target: tuple[float | None, float | None]) -> Scale:
    points = [*values, *(v for v in target if v is not None)]
    low, high = min(points), max(points)
    margin = (high - low) * 0.1 or max(abs(high) * 0.1, 1.0)
    return Scale(max(low - margin, 0.0) if low >= 0 else low - margin, high + margin)


def _band(scale: Scale, target: tuple[float | None, float | None]):
    low, high = target
    if low is None and high is None:
        return None
    top = scale.y(high if high is not None else scale.high)
    bottom = scale.y(low if low is not None else scale.low)
    return top, round(bottom - top, 1)


def readings_chart(
    *,
    title: str,
    unit: str,
    tz: str,
    readings: list[tuple[datetime, float, bool]],
    target: tuple[float | None, float | None],
    first: datetime,
    last: datetime,
    day_labels: list[tuple[datetime, str]],
    hours: list[int],
) -> ReadingsChart:
    """`readings` are (instant, value, out of target), `hours` their local hours of day."""
    values = [value for _at, value, _out in readings]
    scale = _scale(values, target)
    span = (last - first).total_seconds() or 1.0
    plot = WIDTH - PAD_LEFT

    def x(at: datetime) -> float:
        return round(PAD_LEFT + plot * (at - first).total_seconds() / span, 1)

    chart = ReadingsChart(
        title=title,
        unit=unit,
        tz=tz,
        count=len(readings),
        band=_band(scale, target),
        ticks=scale.ticks(),
        day_marks=[(x(at), label) for at, label in day_labels],
    )
    chart.dots = [(x(at), scale.y(v), out, f"{v:g}") for at, v, out in readings]
    chart.profile = modal_day(values, hours, scale, target)
    return chart


def _percentiles(values: list[float]) -> tuple[float, float, float, float, float]:
    if len(values) == 1:
        return (values[0],) * 5
    cuts = quantiles(values, n=20, method="inclusive")  # 5 % steps: 19 cut points
    return cuts[0], cuts[4], cuts[9], cuts[14], cuts[18]


def modal_day(values, hours, scale: Scale, target) -> dict | None:
    """Per hour of the day with readings: p5, p25, median, p75, p95, as SVG paths."""
    by_hour: dict[int, list[float]] = {}
    for value, hour in zip(values, hours, strict=True):
        by_hour.setdefault(hour, []).append(value)
    if not by_hour:
        return None
    plot = WIDTH - PAD_LEFT
    rows = []
    for hour in sorted(by_hour):
        p5, p25, p50, p75, p95 = _percentiles(by_hour[hour])
        rows.append((round(PAD_LEFT + plot * (hour + 0.5) / 24, 1), p5, p25, p50, p75, p95))

    def area(lower: int, upper: int) -> str:
        top = [f"{r[0]},{scale.y(r[upper])}" for r in rows]
        bottom = [f"{r[0]},{scale.y(r[lower])}" for r in reversed(rows)]
        return " ".join(top + bottom)

    return {
        "outer": area(1, 5),
        "inner": area(2, 4),
        "median": " ".join(f"{r[0]},{scale.y(r[3])}" for r in rows),
        "table": [
            {"hour": h, "p5": r[1], "p25": r[2], "p50": r[3], "p75": r[4], "p95": r[5]}
            for h, r in zip(sorted(by_hour), rows, strict=True)
        ],
        "hour_marks": [(round(PAD_LEFT + plot * h / 24, 1), f"{h:02d}") for h in range(0, 25, 6)],
        "band": _band(scale, target),
        "ticks": scale.ticks(),
    }
