"""Liveness and readiness, outside /api/v1 so load balancers need no token."""

from flask import current_app
from pymongo.errors import PyMongoError

from api import db
from api.errors import problem
from api.extensions import Blueprint
from api.schemas.health import HealthSchema

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@blp.route("/health")
@blp.doc(security=[])
@blp.response(200, HealthSchema)
def health():
    """The process is alive."""
    return {"status": "ok"}


@blp.route("/ready")
@blp.doc(security=[])
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="The database did not answer in time.")
def ready():
    """The database answers within a short timeout."""
    try:
        db.ping(current_app.config["READY_TIMEOUT_MS"])
    except PyMongoError:
        return problem(503, "The database is not reachable.", headers={"Retry-After": "5"})
    return {"status": "ready"}
