"""Search parameters: which each type accepts, and their values parsed (or 400 naming them).

Values are only ever compared or parsed, never passed to the database as given: `{"$ne":
null}` or `.*` in a parameter is a string that matches no code, id or date.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from api.fhir.outcome import bad_parameter

MAX_COUNT = 1000
DEFAULT_COUNT = 50
# Result parameters any search takes; `_total`/`_totalMethod` ask for what we always give.
COMMON = frozenset({"_count", "_format", "_cursor", "_total", "_totalMethod", "_id"})
_PREFIXES = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}
_RAW_PREFIXES = ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt"), ("=", "eq"))
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def single(args, name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise bad_parameter(name, "may be given once.")
    return values[0] if values else None


def check_known(args, allowed: frozenset) -> None:
    for name in args:
        if name not in allowed and name not in COMMON:
            raise bad_parameter(name, "is not a search parameter of this resource type.")


def count(args) -> int:
    value = single(args, "_count")
    if value is None:
        return DEFAULT_COUNT
    if not value.isascii() or not value.isdigit():
        raise bad_parameter("_count", "must be a whole number.")
    number = int(value)
    if number > MAX_COUNT:
        raise bad_parameter("_count", f"must be at most {MAX_COUNT}.")
    return number


def total_mode(args) -> None:
    value = single(args, "_total")
    if value is not None and value not in ("none", "estimate", "accurate"):
        raise bad_parameter("_total", "must be none, estimate or accurate.")
    method = single(args, "_totalMethod")
    if method is not None and method not in ("count", "estimate"):
        raise bad_parameter("_totalMethod", "must be count or estimate.")


def reference_id(value: str, kind: str, name: str) -> str:
    """`xyz`, `Patient/xyz` or `<base>/Patient/xyz` → "xyz"; another type is a bad value."""
    if "/" in value:
        parts = value.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != kind:
            raise bad_parameter(name, f"must reference a {kind}.")
        value = parts[-1]
    if not value:
        raise bad_parameter(name, "must not be empty.")
    return value


def patient(args, names=("patient", "subject")) -> str | None:
    given = [(n, v) for n in names for v in args.getlist(n)]
    if len(given) > 1:
        raise bad_parameter(given[1][0], "takes one patient per search.")
    if not given:
        return None
    name, value = given[0]
    if "," in value:
        raise bad_parameter(name, "takes one patient per search.")
    return reference_id(value, "Patient", name)


def ids(args) -> list[str] | None:
    values = args.getlist("_id")
    if not values:
        return None
    return [v for value in values for v in value.split(",")]


def codes(args, name: str, allowed: tuple[str, ...]) -> set[str] | None:
    """A token parameter over a fixed value set (status and the like), comma = OR."""
    values = args.getlist(name)
    if not values:
        return None
    wanted = set()
    for value in values:
        for code in value.split(","):
            if code not in allowed:
                raise bad_parameter(name, f"must be one of {', '.join(allowed)}.")
            wanted.add(code)
    return wanted


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system
    code: str | None  # None: any code of the system

    def matches(self, coding: dict) -> bool:
        if self.system is not None and coding.get("system", "") != self.system:
            return False
        return self.code is None or coding.get("code") == self.code


def tokens(args, name: str) -> list[Token] | None:
    """`system|code`, `code`, `|code` (no system), `system|` (any code); comma = OR."""
    values = args.getlist(name)
    if not values:
        return None
    found = []
    for value in values:
        for part in value.split(","):
            if not part:
                raise bad_parameter(name, "has an empty value.")
            system, bar, code = part.partition("|")
            if not bar:
                found.append(Token(None, part))
            else:
                found.append(Token(system, code or None))
    return found


def instant_range(text: str, name: str) -> tuple[datetime, datetime]:
    """The instants a date value stands for: 2024 is the whole year, 2024-03-01 the day."""
    match = _DATE.match(text)
    if match is None:
        raise bad_parameter(name, f"'{text[:40]}' is not a FHIR date or dateTime.")
    part = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        return _span(part, name)
    except (ValueError, OverflowError):
        raise bad_parameter(name, f"'{text[:40]}' is not a valid date.") from None


def _span(part: dict, name: str) -> tuple[datetime, datetime]:
    """[start, end) of a parsed date; a time without a zone is UTC, the server's zone."""
    year, month, day = int(part["y"]), int(part.get("m", 1)), int(part.get("d", 1))
    hour, minute = int(part.get("H", 0)), int(part.get("M", 0))
    second = int(part.get("S", 0))
    fraction = int((part.get("f", "0") + "000000")[:6])
    zone = UTC
    if part.get("tz") and part["tz"] != "Z":
        sign = 1 if part["tz"][0] == "+" else -1
        hours, minutes = part["tz"][1:].split(":")
        zone = _zone(sign * timedelta(hours=int(hours), minutes=int(minutes)), name)
    start = datetime(year, month, day, hour, minute, second, fraction, tzinfo=zone)
    if "f" in part:
        width = timedelta(microseconds=10 ** max(0, 6 - len(part["f"])))
    elif "S" in part:
        width = timedelta(seconds=1)
    elif "M" in part:
        width = timedelta(minutes=1)
    elif "d" in part:
        width = timedelta(days=1)
    elif "m" in part:
        width = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC) - start
    else:
        width = datetime(year + 1, 1, 1, tzinfo=UTC) - start
    return start.astimezone(UTC), (start + width).astimezone(UTC)


def _zone(offset: timedelta, name: str):
    from datetime import timezone

    try:
        return timezone(offset)
    except ValueError:
        raise bad_parameter(name, "has an impossible time zone offset.") from None


def dates(args, name: str = "date") -> tuple[datetime | None, datetime | None]:
    """Every `date` value ANDed into one [start, end): eq, ge, gt, le, lt, and `>=` forms."""
    start, end = None, None
    for value in args.getlist(name):
        prefix, text = "eq", value
        for raw, mapped in _RAW_PREFIXES:
            if value.startswith(raw):
                prefix, text = mapped, value[len(raw) :]
                break
        else:
            if value[:2] in _PREFIXES and not value[:2].isdigit():
                prefix, text = value[:2], value[2:]
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            raise bad_parameter(name, f"the prefix '{prefix}' is not supported.")
        low, high = instant_range(text.strip(), name)
        if prefix in ("eq", "ge"):
            start = low if start is None else max(start, low)
        if prefix == "gt":
            start = high if start is None else max(start, high)
        if prefix in ("eq", "le"):
            end = high if end is None else min(end, high)
        if prefix == "lt":
            end = low if end is None else min(end, low)
    return start, end


def sort(args) -> bool:
    """`_sort=date` (oldest first) or `-date` (newest first, the default): True if newest."""
    value = single(args, "_sort")
    if value is None or value == "-date":
        return True
    if value == "date":
        return False
    raise bad_parameter("_sort", "must be date or -date.")


def encode_cursor(fields: dict) -> str:
    text = json.dumps(fields, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor(args) -> dict | None:
    value = single(args, "_cursor")
    if value is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, dict):
        raise bad_parameter("_cursor", "is not a cursor from a next link.")
    return decoded


def cursor_field(fields: dict, key: str, kind):
    """One field of a decoded cursor, checked (a tampered cursor is a bad value)."""
    value = fields.get(key)
    try:
        if kind is datetime:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if kind is ObjectId:
            return ObjectId(value)
        if kind is timedelta:
            return timedelta(seconds=float(value))
        if isinstance(value, kind):
            return value
    except (TypeError, ValueError, OverflowError, InvalidId):
        pass
    raise bad_parameter("_cursor", "is not a cursor from a next link.")
