"""Logs an operator can read, request ids, and the request metrics.

One JSON object per line (never bodies, tokens or health data). Every line logged while a
request or a job run is under way carries its `request_id` or `job_run_id`, so an alert
opened or a push sent can be traced to what caused it. Third-party libraries speak at
WARNING and above: their INFO chatter (the scheduler adding jobs, the driver's heartbeats,
gunicorn's access lines, which `carepact.access` replaces) drowns CarePact's own events.
"""

import json
import logging
import re
import sys
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

from flask import g, request

from api import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("carepact.access")
THIRD_PARTY_LOGGERS = (
    "apscheduler",
    "pymongo",
    "werkzeug",
    "gunicorn.access",
    "urllib3",
    "flask_limiter",
    "limits",
)
# What caused the work under way in this thread: {"request_id": ...} or a job run's ids.
_cause: ContextVar[dict | None] = ContextVar("carepact_cause", default=None)


@contextmanager
def job_run(job: str):
    """Tag every line logged inside with this job run's id."""
    token = _cause.set({"job": job, "job_run_id": uuid.uuid4().hex})
    try:
        yield
    finally:
        _cause.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_cause.get() or {})
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
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
    _cause.set({"request_id": g.request_id})


def _finish_request(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    seconds = time.perf_counter() - g.get("started_at", time.perf_counter())
    rule = request.url_rule.rule if request.url_rule else None
    metrics.request_answered(request.method, rule, response.status_code, seconds)
    duration_ms = seconds * 1000
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


def _end_request(_error=None) -> None:
    _cause.set(None)


def register_request_hooks(app) -> None:
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
