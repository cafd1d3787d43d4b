"""Every error becomes application/problem+json (RFC 9457), in one place.

Services raise `ApiError` subclasses; werkzeug's HTTP errors, webargs' validation errors,
flask-jwt-extended's token errors and database outages all end up in `problem()`.
"""

import logging
from http import HTTPStatus

from flask import current_app, json
from mongoengine.errors import NotUniqueError, OperationError
from pymongo.errors import DuplicateKeyError, PyMongoError
from werkzeug.exceptions import HTTPException

from api import metrics

log = logging.getLogger("carepact.errors")

PROBLEM_JSON = "application/problem+json"
DB_RETRY_AFTER_S = 5


class ApiError(Exception):
    """An error a client can act on. `extra` fields are added to the problem body."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str, *, errors=None, headers=None, status=None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        if status is not None:
            self.status = HTTPStatus(status)


class Unauthorized(ApiError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(ApiError):
    status = HTTPStatus.FORBIDDEN


class NotFound(ApiError):
    status = HTTPStatus.NOT_FOUND

    def __init__(self, detail: str = "Not found.", **kwargs):
        super().__init__(detail, **kwargs)


class Conflict(ApiError):
    status = HTTPStatus.CONFLICT


class PreconditionFailed(ApiError):
    status = HTTPStatus.PRECONDITION_FAILED


class PreconditionRequired(ApiError):
    status = HTTPStatus.PRECONDITION_REQUIRED


class ValidationFailed(ApiError):
    """422 naming the fields: `ValidationFailed({"field": ["message"]})`."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, errors: dict, detail: str = "The request has invalid fields.", **kw):
        super().__init__(detail, errors=errors, **kw)


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages → {"goals.0.target.low": ["..."]}."""
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "_body": list(messages)}
        flat = {}
        for message in messages:
            flat.update(flatten_errors(message, prefix))
        return flat
    if not isinstance(messages, dict):
        return {prefix or "_body": [str(messages)]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = "_body" if key == "_schema" and not prefix else str(key)
        path = f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name)
        for field, errors in flatten_errors(value, path).items():
            flat.setdefault(field, []).extend(errors)
    return flat


def problem(status: int, detail: str | None = None, *, errors=None, headers=None, **extra):
    status = HTTPStatus(status)
    body = {"type": "about:blank", "title": status.phrase, "status": status.value}
    body["detail"] = detail or status.description
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = current_app.response_class(
        json.dumps(body), status=status.value, mimetype=PROBLEM_JSON
    )
    response.headers.update(headers or {})
    return response


def _webargs_errors(data) -> dict[str, list[str]]:
    """Drop webargs' location level ("json", "query") so clients see plain field names."""
    messages = data.get("messages") or data.get("errors") or {}
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers", "files"}:
        merged = {}
        for location_messages in messages.values():
            merged.update(flatten_errors(location_messages))
        return merged
    return flatten_errors(messages)


def handle_api_error(error: ApiError):
    return problem(
        error.status, error.detail, errors=error.errors, headers=error.headers, **error.extra
    )


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if error.code == HTTPStatus.UNPROCESSABLE_ENTITY:
        return problem(422, "The request has invalid fields.", errors=_webargs_errors(data))
    if error.code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(error.valid_methods or [])
    if error.code == HTTPStatus.BAD_REQUEST and (
        "json" in (data.get("messages") or {}) or "JSON" in str(error.description or "")
    ):
        return problem(400, "The request body is not valid JSON.")
    if error.code == HTTPStatus.INTERNAL_SERVER_ERROR:
        original = getattr(error, "original_exception", None)
        if original is not None:
            return handle_unexpected(original)
    detail = data.get("message") or error.description
    return problem(error.code or 500, detail, headers=headers)


def handle_database_error(error: PyMongoError):
    if isinstance(error, DuplicateKeyError):
        log.exception("unhandled duplicate key")
        return problem(409, "This conflicts with a record that already exists.")
    log.exception("database unavailable")
    metrics.DB_UNAVAILABLE.labels("request").inc()
    return problem(
        503,
        "The database is not available right now. Please retry shortly.",
        headers={"Retry-After": str(DB_RETRY_AFTER_S)},
    )


def handle_not_unique(error: NotUniqueError):
    """mongoengine wraps a duplicate key on save in its own class; answer it like pymongo's."""
    log.exception("unhandled duplicate key")
    return problem(409, "This conflicts with a record that already exists.")


def handle_unexpected(error: Exception):
    if isinstance(error, PyMongoError):
        return handle_database_error(error)
    if isinstance(error, OperationError) and isinstance(error.__context__, PyMongoError):
        # mongoengine's modify/update wrap the driver's error in their own class.
        return handle_database_error(error.__context__)
    if isinstance(error, ApiError):
        return handle_api_error(error)
    log.exception("unhandled exception")
    return problem(500, "Something went wrong on our side. It has been logged.")


def register_error_handlers(app) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PyMongoError, handle_database_error)
    app.register_error_handler(NotUniqueError, handle_not_unique)
    app.register_error_handler(Exception, handle_unexpected)
