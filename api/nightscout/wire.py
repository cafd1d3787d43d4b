"""Nightscout's side of HTTP: the uploader's key, (gzip) bodies within limits, its errors."""

import json
import zlib

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from api.errors import ApiError
from api.json_body import loads_strict
from api.services.tracking import uploaders

# Decoded, a month of five-minute readings with xDrip+'s fields is about 2.5 MB.
MAX_DECODED_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 10_000
SHA1_HEX_LENGTH = 40


class NightscoutError(ApiError):
    """An error answered in Nightscout's shape."""


def api_key() -> str | None:
    """The SHA-1 hex of the uploader's secret: the `api-secret` header (Nightscout clients
    send the hash; a plain secret there is hashed too), or `?token=<secret>`."""
    header = request.headers.get("api-secret", "").strip()
    if header:
        if len(header) == SHA1_HEX_LENGTH and all(c in "0123456789abcdefABCDEF" for c in header):
            return header.lower()
        return uploaders.sha1_hex(header)
    token = request.args.get("token", "").strip()
    return uploaders.sha1_hex(token) if token else None


def _decoded(raw: bytes) -> bytes:
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > MAX_DECODED_BYTES:
            raise NightscoutError("Request Entity Too Large", status=413)
        return raw
    if encoding not in ("gzip", "deflate"):
        raise NightscoutError(f"Unsupported Content-Encoding {encoding!r}", status=415)
    # Decompressed in one bounded step: a gzip bomb stops at the limit, never in memory.
    inflater = zlib.decompressobj(47)  # 32 + 15: gzip or zlib, told by the header
    try:
        body = inflater.decompress(raw, MAX_DECODED_BYTES + 1)
    except zlib.error:
        raise NightscoutError("The body is not valid gzip.", status=400) from None
    if len(body) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
        raise NightscoutError("Request Entity Too Large", status=413)
    return body


def items() -> list:
    """The posted object or array, as a list of items (bad JSON: 400; too much: 413)."""
    body = _decoded(request.get_data(cache=False))
    try:
        data = loads_strict(body)
    except (json.JSONDecodeError, RecursionError):
        raise NightscoutError("The body is not valid JSON.", status=400) from None
    data = data if isinstance(data, list) else [data]
    if len(data) > MAX_ITEMS:
        raise NightscoutError(f"At most {MAX_ITEMS} items per request.", status=413)
    return data


def sizes(found: list) -> list[int]:
    return [len(json.dumps(item, separators=(",", ":"))) for item in found]


_MESSAGES = {401: "Unauthorized", 400: "Bad Request", 413: "Request Entity Too Large"}


def answer_error(status: int, description: str):
    body = {"status": status, "message": _MESSAGES.get(status, "Error"), "description": description}
    return jsonify(body), status


def handle_api_error(error: ApiError):
    return answer_error(int(error.status), error.detail)


def handle_http_error(error: HTTPException):
    return answer_error(error.code or 500, error.description or error.name)
