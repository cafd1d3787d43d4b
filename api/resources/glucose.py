"""Glucose monitors: uploader credentials, and the CGM metrics clinicians read."""

from flask import request
from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.glucose import (
    GlucoseMetricsSchema,
    GlucoseQuerySchema,
    UploaderCreatedSchema,
    UploaderCreateSchema,
    UploaderSchema,
)
from api.services.tracking import glucose_metrics, log_reading, uploaders

blp = Blueprint(
    "glucose",
    __name__,
    url_prefix="/api/v1",
    description="Glucose monitors: Nightscout uploaders and CGM metrics.",
)


_LISTED = ("last_seen_at", "last_reading_at", "battery", "battery_at", "device")


def _shown(doc: dict) -> dict:
    return {**dict.fromkeys(_LISTED), **doc, "id": str(doc["_id"])}


@blp.route("/patients/<pid>/uploaders")
class Uploaders(MethodView):
    @authenticated()
    @blp.response(200, UploaderSchema(many=True))
    def get(self, pid):
        """The patient's active uploaders: last seen, last reading, battery; never a secret."""
        scope = patient_scope(pid, Need.VIEW)
        return [_shown(doc) for doc in uploaders.listing(scope.patient_id)]

    @authenticated()
    @blp.arguments(UploaderCreateSchema)
    @blp.response(201, UploaderCreatedSchema)
    @blp.alt_response(409, description="Too many active uploaders.")
    def post(self, data, pid):
        """A new uploader credential; `secret` is shown only in this answer."""
        scope = patient_scope(pid, Need.LOG)
        created = uploaders.create(
            scope.patient_id, data["name"], created_by=scope.caller.id, now=utcnow()
        )
        created["base_url"] = request.host_url.rstrip("/")
        return _shown(created)


@blp.route("/patients/<pid>/uploaders/<uid>", methods=["DELETE"])
@authenticated()
@blp.response(204)
def revoke_uploader(pid, uid):
    """Revoke an uploader at once: its key opens nothing from the next request on."""
    scope = patient_scope(pid, Need.LOG)
    uploaders.revoke(scope.patient_id, uid, now=utcnow())


@blp.route("/patients/<pid>/glucose", methods=["GET"])
@authenticated()
@blp.arguments(GlucoseQuerySchema, location="query")
@blp.response(200, GlucoseMetricsSchema)
def glucose_metrics_route(query, pid):
    """CGM metrics over the last `days` local days (International Consensus on Time in
    Range): wear, mean, SD, CV, GMI, time in the five ranges, and the AGP per local hour."""
    scope = patient_scope(pid, Need.VIEW)
    prefs = log_reading.display_prefs(scope.patient_id)
    return glucose_metrics.report(
        scope.patient_id,
        days=query["days"],
        tz=prefs.get("tz"),
        unit=prefs.get("glucose_unit"),
        now=utcnow(),
    )
