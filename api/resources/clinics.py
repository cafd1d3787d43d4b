"""Clinics: admins create them and place providers; a clinic's providers can read it."""

from api.auth import authenticated, caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.clinics import ClinicCreateSchema, ClinicProviderAddSchema, ClinicSchema
from api.services.clinic import clinics

blp = Blueprint("clinics", __name__, url_prefix="/api/v1", description="Clinics.")


@blp.route("/admin/clinics", methods=["POST"])
@authenticated("admin")
@blp.arguments(ClinicCreateSchema)
@blp.response(201, ClinicSchema)
@blp.alt_response(409, description="A clinic with this name already exists.")
def create_clinic(data):
    """Create a clinic (admins only)."""
    clinic = clinics.create_clinic(name=data["name"], created_by=caller().id, now=utcnow())
    return clinics.describe(clinic)


@blp.route("/admin/clinics/<cid>/providers", methods=["POST"])
@authenticated("admin")
@blp.arguments(ClinicProviderAddSchema)
@blp.response(201, ClinicSchema)
@blp.alt_response(404, description="No such clinic.")
def add_provider(data, cid):
    """Place a provider in a clinic; doing it again is harmless (idempotent)."""
    clinic = clinics.add_provider(clinic_id=cid, provider_id=data["provider_id"], now=utcnow())
    return clinics.describe(clinic)


@blp.route("/clinics/<cid>", methods=["GET"])
@authenticated("provider", "admin")
@blp.etag
@blp.response(200, ClinicSchema)
@blp.alt_response(404, description="No such clinic, or you are not one of its providers.")
def get_clinic(cid):
    """The clinic, its providers and how many patients it serves (its providers, admins)."""
    return clinics.describe(clinics.clinic_for(cid, caller()))
