"""How the console writes numbers, ages and instants: times always in the patient's zone
(or the viewer's, on lists across patients), labelled with that zone."""

from datetime import date, datetime

from api.services.common import local_days


def local_time(instant: datetime | None, tz: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if instant is None:
        return "—"
    zone = tz or "UTC"
    return f"{instant.astimezone(local_days.zone(zone)):{fmt}} ({zone})"


def ago(instant: datetime | None, now: datetime) -> str:
    if instant is None:
        return "never"
    seconds = max((now - instant).total_seconds(), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def age(birth: date | datetime | str | None, today: date) -> str:
    if birth is None:
        return "—"
    if isinstance(birth, str):
        birth = date.fromisoformat(birth[:10])
    if isinstance(birth, datetime):
        birth = birth.date()
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return str(years)


HELPERS = {"local_time": local_time, "ago": ago, "percent": percent, "age": age}
