"""The clinic's population: aggregates for its providers, public or CSV on request."""

from flask import Response

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.population import PopulationQuerySchema, PopulationSchema
from api.services.clinic import clinics, population_view

blp = Blueprint("population", __name__, url_prefix="/api/v1", description="A clinic's population.")


@blp.route("/clinics/<cid>/population", methods=["GET"])
@authenticated("provider")
@blp.arguments(PopulationQuerySchema, location="query")
@blp.response(200, PopulationSchema)
@blp.alt_response(404, description="No such clinic, or you are not one of its providers.")
def get_population(args, cid):
    """Patients by condition, care gaps, 30-day adherence, open alerts; and a month earlier.

    `format=public` shows any count under 11 as "<11" (and what is derived from it as
    "suppressed"); `format=csv` gives those public figures as text/csv, one per row.
    """
    clinic = clinics.clinic_for(cid, caller())
    result = population_view.view(clinic, condition=args.get("condition"), now=utcnow())
    if args["format"] == "full":
        return result
    result = population_view.public(result)
    if args["format"] == "csv":
        return Response(population_view.as_csv(result), mimetype="text/csv")
    return result
