"""Content negotiation and responses: FHIR JSON (`application/fhir+json`), or plain
`application/json` for a client that asks for that; XML is not served (406)."""

import json

from flask import current_app, request

from api.fhir.outcome import FhirError

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
_JSON_FORMATS = {"json", FHIR_JSON, JSON, "application/json+fhir", "text/json"}


def _wanted_mimetype() -> str:
    """`_format` first (FHIR's override), then Accept; anything not JSON is refused."""
    formats = request.args.getlist("_format")
    if formats:
        if len(formats) > 1 or formats[0].split(";")[0].strip() not in _JSON_FORMATS:
            raise FhirError(406, "Only JSON is served (_format=json).", expression="_format")
        return FHIR_JSON
    accept = request.accept_mimetypes
    if not accept.provided:
        return FHIR_JSON
    best = accept.best_match([FHIR_JSON, JSON, "application/json+fhir"])
    if best is None:
        raise FhirError(406, "Only application/fhir+json or application/json is served.")
    return JSON if best == JSON and accept[JSON] > accept[FHIR_JSON] else FHIR_JSON


def respond(body: dict, status: int = 200, headers: dict | None = None):
    try:
        mimetype = _wanted_mimetype()
    except FhirError:
        if status < 400:
            raise
        mimetype = FHIR_JSON
    response = current_app.response_class(
        json.dumps(body, separators=(",", ":")), status=status, mimetype=mimetype
    )
    response.headers.update(headers or {})
    # Health data: never kept by shared or on-disk caches (ETags still allow revalidation).
    response.headers["Cache-Control"] = "no-store"
    return response
