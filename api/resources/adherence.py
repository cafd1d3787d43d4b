"""Adherence in the patient's own days, read from rollups."""

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.adherence import AdherenceQuerySchema, AdherenceSchema
from api.services.tracking import adherence

blp = Blueprint("adherence", __name__, url_prefix="/api/v1", description="Adherence.")


@blp.route("/patients/<pid>/adherence", methods=["GET"])
@authenticated()
@blp.arguments(AdherenceQuerySchema, location="query")
@blp.response(200, AdherenceSchema)
@blp.alt_response(422, description="A bad range.")
def get_adherence(query, pid):
    """Per goal: days, days met, percent, streaks, last log and the series (local days).

    A day before the agreement started or after today does not count; today (or this week)
    counts once it is met.
    """
    scope = patient_scope(pid, Need.VIEW)
    return adherence.report(
        scope.patient_id, first=query.get("from_"), last=query.get("to"), now=utcnow()
    )
