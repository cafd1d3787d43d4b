"""Base schema and fields shared by every resource schema."""

from datetime import UTC, time

import marshmallow as ma


class Schema(ma.Schema):
    """Unknown fields are rejected, so a typo never passes silently."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


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
