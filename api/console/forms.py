"""Forms through the API's own schemas: the same rules, the same field names.

`load(schema, fields)` takes the named fields of the posted form (blank ones left out, as a
client would leave them out) and returns (data, None), or (None, errors) with one message
per field, for the page to re-render the form with the input kept.
"""

from flask import request
from marshmallow import ValidationError

from api.errors import ValidationFailed, flatten_errors

__all__ = ["ValidationError", "first_messages", "flatten_errors", "load", "service_errors"]

CHECKBOX = "on"


def values(fields) -> dict:
    return {name: request.form.get(name, "") for name in fields}


def load(schema, fields, *, checkboxes=()) -> tuple[dict | None, dict | None]:
    posted = {}
    for name in fields:
        raw = request.form.get(name, "")
        if name in checkboxes:
            if raw == CHECKBOX:
                posted[name] = True
        elif raw.strip():
            posted[name] = raw
    try:
        return schema.load(posted), None
    except ValidationError as error:
        return None, first_messages(flatten_errors(error.messages))


def first_messages(errors: dict) -> dict:
    return {name: messages[0] for name, messages in errors.items()}


def service_errors(error: ValidationFailed) -> dict:
    """A service's 422 (`field_error`), as the form shows it."""
    return first_messages(error.errors or {"_body": [error.detail]})
