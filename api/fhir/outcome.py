"""FHIR errors: every failure under /fhir/R4 is an OperationOutcome, never problem+json."""

import logging
from http import HTTPStatus

from pymongo.errors import PyMongoError
from werkzeug.exceptions import HTTPException

from api.errors import ApiError

log = logging.getLogger("carepact.fhir")

# HTTP status → the OperationOutcome issue type (http://hl7.org/fhir/issue-type).
_ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    410: "deleted",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


class FhirError(Exception):
    """An error a FHIR client can act on; `expression` names the parameter at fault."""

    def __init__(self, status: int, diagnostics: str, *, expression=None, headers=None):
        super().__init__(diagnostics)
        self.status = int(status)
        self.diagnostics = diagnostics
        self.expression = expression
        self.headers = headers or {}


def bad_parameter(name: str, message: str) -> FhirError:
    return FhirError(400, f"Parameter '{name}': {message}", expression=name)


def operation_outcome(status: int, diagnostics: str, expression=None) -> dict:
    issue = {
        "severity": "error",
        "code": _ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
        "diagnostics": diagnostics,
    }
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def as_fhir_error(error: Exception) -> FhirError:
    """Whatever went wrong, as the FhirError a client should see."""
    if isinstance(error, FhirError):
        return error
    if isinstance(error, ApiError):
        detail = "Not found." if error.status == 404 else error.detail
        return FhirError(error.status, detail, headers=error.headers)
    if isinstance(error, HTTPException):
        status = error.code or 500
        headers = {}
        if status == 405:
            headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or ["GET"])
        return FhirError(status, HTTPStatus(status).phrase + ".", headers=headers)
    if isinstance(error, PyMongoError):
        log.exception("database unavailable")
        return FhirError(
            503, "The database is not available right now.", headers={"Retry-After": "5"}
        )
    log.exception("unhandled exception")
    return FhirError(500, "Something went wrong on our side. It has been logged.")
