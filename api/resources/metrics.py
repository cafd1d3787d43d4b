"""`GET /metrics`: Prometheus' text format, for the operators' scraper only.

Served only to `Authorization: Bearer <METRICS_TOKEN>`; without the setting nobody gets in.
Outside the OpenAPI document: it is not part of the patient or clinician API.
"""

import hmac

from flask import Blueprint, Response, current_app, request

from api import db, metrics
from api.clock import utcnow
from api.errors import problem

blp = Blueprint("metrics", __name__)


def _authorized() -> bool:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), expected.encode())
    )


@blp.route("/metrics")
def scrape():
    if not _authorized():
        return problem(
            401,
            "Metrics need the operators' bearer token.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    timeout_ms = current_app.config["READY_TIMEOUT_MS"]
    gauges = metrics.ScrapeTimeGauges(
        lambda: db.ping(timeout_ms), [lambda: metrics.outbox_backlog(utcnow())]
    )
    body, content_type = metrics.exposition(gauges)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
