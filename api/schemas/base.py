"""Base schema and fields shared by every resource schema."""

import re
from datetime import UTC, time

import marshmallow as ma

# C0 and C1 control characters (tab, newline and carriage return aside) and the bidirectional
# embeddings, overrides and isolates, which make text display otherwise than it is stored
# ("\u202e" turns "exe.txt" around): refused in names, stripped from free text.
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# A name is one line: no tab or line break either.
UNSAFE_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_unsafe(value):
    if isinstance(value, str):
        return UNSAFE_TEXT.sub("", value)
    if isinstance(value, list):
        return [strip_unsafe(item) for item in value]
    return value


def refuse_unsafe(value: str) -> None:
    if UNSAFE_IN_NAMES.search(value):
        raise ma.ValidationError(
            "Must not contain tabs, line breaks, control characters or bidirectional "
            "text overrides."
        )


class Schema(ma.Schema):
    """Unknown fields are rejected, so a typo never passes silently. Control characters and
    bidirectional overrides are stripped from every text field, except the fields that
    refuse them (names) and passwords (taken exactly as typed)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def _strip_unsafe_text(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        fields = {field.data_key or name: field for name, field in self.load_fields.items()}
        cleaned = {}
        for key, value in data.items():
            field = fields.get(key)
            exact = field is None or getattr(field, "refuses_unsafe_text", False)
            cleaned[key] = value if exact or "password" in key else strip_unsafe(value)
        return cleaned


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 instants: any offset accepted on input, UTC with a `Z` on output."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise self.make_error("invalid", input=value, obj_type="datetime with an offset")
        return parsed.astimezone(UTC)


class LocalTime(ma.fields.String):
    """A wall-clock time "HH:MM" (24-hour)."""

    default_error_messages = {"invalid": "Must be a time as HH:MM (00:00 to 23:59)."}

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) != 5 or value[2] != ":":
            raise self.make_error("invalid")
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        return value
