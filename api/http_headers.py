"""Headers every response carries: security hardening, caching of health data, and CORS.

The API serves mobile apps with bearer tokens (no cookies), so CORS is off unless
CORS_ORIGINS lists origins, and then it echoes only a listed origin, never `*`.
"""

from flask import current_app, request

CORS_ALLOWED_HEADERS = (
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-ID"
)
CORS_EXPOSED_HEADERS = "ETag, X-Pagination, X-Request-ID, Retry-After, Location"
_DOCS_PREFIX = "/api/v1/docs"


def _security_headers(response) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith(_DOCS_PREFIX):
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
        )
    if request.path.startswith("/api/v1/") and not request.path.startswith(_DOCS_PREFIX):
        # Health data must never sit in a shared or on-disk cache.
        response.headers["Cache-Control"] = "no-store"


def _cors_headers(response) -> None:
    origin = request.headers.get("Origin")
    if not origin or origin not in current_app.config["CORS_ORIGINS"]:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"


def add_response_headers(response):
    _security_headers(response)
    _cors_headers(response)
    return response


def register_response_headers(app) -> None:
    app.after_request(add_response_headers)
