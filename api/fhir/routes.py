"""The /fhir/R4 routes: metadata, the token endpoint, read and search of every type.

Only GET reads anything; every other method on a served path is 405, an unknown type 404,
and every error an OperationOutcome. Nothing here writes, but the token endpoint's record
of a client's use and the access log the access rule keeps.
"""

import base64
import binascii
from datetime import UTC
from email.utils import format_datetime

from flask import Blueprint, current_app, request
from flask_jwt_extended import verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from api.auth import caller
from api.clock import utcnow
from api.fhir import capability, search
from api.fhir.http import respond
from api.fhir.outcome import FhirError, as_fhir_error, operation_outcome
from api.fhir.types import TYPES
from api.fhir.urls import BASE_PATH, fhir_base_url
from api.services.clinic import api_clients

blp = Blueprint("fhir", __name__, url_prefix=BASE_PATH)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
FORM = "application/x-www-form-urlencoded"


@blp.errorhandler(Exception)
def _outcome(error):
    fhir_error = as_fhir_error(error)
    body = operation_outcome(fhir_error.status, fhir_error.diagnostics, fhir_error.expression)
    return respond(body, fhir_error.status, fhir_error.headers)


def _only(*methods: str) -> None:
    if request.method not in methods and request.method != "HEAD":
        raise FhirError(
            405,
            f"{request.method} is not supported here (read-only API).",
            headers={"Allow": ", ".join(methods)},
        )


def _authenticate():
    try:
        verify_jwt_in_request()
    except (JWTExtendedException, PyJWTError):
        raise FhirError(
            401,
            "A valid, unrevoked bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
        ) from None
    return caller()


@blp.route("/metadata", methods=METHODS)
def metadata():
    _only("GET")
    return respond(capability.statement(fhir_base_url()))


def _view(kind: str, rid: str | None = None):
    _only("GET")
    who = _authenticate()
    now = utcnow()
    if rid is None:
        return respond(search.search(kind, who, now))
    resource, found = search.read(kind, rid, now)
    etag = f'W/"{resource["meta"]["versionId"]}"'
    headers = {"ETag": etag}
    if found.updated is not None:
        headers["Last-Modified"] = format_datetime(_aware(found.updated), usegmt=True)
    if request.if_none_match.contains_weak(resource["meta"]["versionId"]):
        response = current_app.response_class(status=304)
        response.headers.update(headers)
        return response
    return respond(resource, headers=headers)


def _aware(value):
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


for _kind in TYPES:
    blp.add_url_rule(
        f"/{_kind}", f"search_{_kind}", lambda kind=_kind: _view(kind), methods=METHODS
    )
    blp.add_url_rule(
        f"/{_kind}/<rid>",
        f"read_{_kind}",
        lambda rid, kind=_kind: _view(kind, rid),
        methods=METHODS,
    )


@blp.route("/<path:rest>", methods=METHODS)
def elsewhere(rest: str):
    """Unknown types are 404; other interactions on a served type (history, _search,
    operations) are not supported: 405."""
    kind = rest.split("/", 1)[0]
    if kind in TYPES:
        raise FhirError(405, "This interaction is not supported (read and search only).")
    raise FhirError(404, f"'{kind[:60]}' is not a resource type served here.")


# --- OAuth 2.0 client credentials (RFC 6749 section 4.4) ---------------------------------


def _oauth_error(status: int, error: str, description: str, headers=None):
    response = current_app.response_class(
        current_app.json.dumps({"error": error, "error_description": description}),
        status=status,
        mimetype="application/json",
    )
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def _basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


@blp.route("/auth/token", methods=METHODS)
def token():
    """Client credentials: form-encoded `grant_type=client_credentials`, the client's id and
    secret in the form or HTTP Basic. Errors follow RFC 6749 (`error`), as OAuth clients
    expect."""
    if request.method != "POST":
        return _oauth_error(405, "invalid_request", "Use POST.", {"Allow": "POST"})
    if request.mimetype != FORM:
        return _oauth_error(400, "invalid_request", f"The body must be {FORM}.")
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", "Only grant_type=client_credentials is supported."
        )
    credentials = _basic_credentials() or (
        form.get("client_id", ""),
        form.get("client_secret", ""),
    )
    client = None
    if credentials[0] and credentials[1]:
        client = api_clients.authenticate(*credentials)
    if client is None:
        return _oauth_error(
            401,
            "invalid_client",
            "Unknown client, wrong secret, or a revoked client.",
            {"WWW-Authenticate": 'Basic realm="fhir"'},
        )
    scope = form.get("scope")
    if scope and any(s not in (api_clients.SCOPE, "system/*.rs") for s in scope.split()):
        return _oauth_error(400, "invalid_scope", f"This client may ask for {api_clients.SCOPE}.")
    ttl = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    body = api_clients.issue_token(client, now=utcnow(), ttl_seconds=ttl)
    response = current_app.response_class(current_app.json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
