"""Request ids and one JSON log line per request (never bodies, tokens or health data)."""

import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("carepact.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    JsonFormatter.converter = time.gmtime
    root.addHandler(handler)
    root.setLevel(level)


def _start_request() -> None:
    g.started_at = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _finish_request(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    duration_ms = (time.perf_counter() - g.get("started_at", time.perf_counter())) * 1000
    access_log.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "request_id": g.get("request_id"),
                "user_id": g.get("caller_id"),
            }
        },
    )
    return response


def register_request_hooks(app) -> None:
    app.before_request(_start_request)
    app.after_request(_finish_request)
