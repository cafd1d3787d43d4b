"""What the JSON API accepts as a request body, settled before anything reads it.

- A body that is not JSON is a 415 naming the type the API takes (rather than a 422 listing
  every field as missing, which sends a client looking in the wrong place).
- A chunked body carries no Content-Length for Werkzeug to refuse early, and Werkzeug's
  reader stops quietly at `MAX_CONTENT_LENGTH`, handing on a truncated body a schema then
  calls invalid JSON. It is read here, once, and a byte past the limit is a 413.
"""

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from api.errors import ApiError

# Blueprints that read other bodies: HTML forms, FHIR's form-encoded _search, the Nightscout
# wire (its own 415 and 413 answers for uploaders).
_OWN_BODIES = {"console", "fhir", "nightscout"}
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


def _is_chunked() -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _read_chunked_body() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    body = request.get_data(cache=True)
    if limit is not None and len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def check_request_body() -> None:
    if request.method not in _WITH_BODY:
        return
    if _is_chunked():
        _read_chunked_body()
    elif not request.content_length:
        return
    if request.blueprint in _OWN_BODIES or request.blueprint is None or request.is_json:
        return
    raise ApiError(
        f"Send the body as application/json (got {request.mimetype or 'no Content-Type'}).",
        status=UnsupportedMediaType.code,
    )


def register_body_checks(app) -> None:
    """Before the rate limiter's hook, whose key functions may read the body."""
    app.before_request(check_request_body)
