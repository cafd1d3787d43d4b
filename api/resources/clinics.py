"""Clinics: admins create them and place providers; a clinic's providers can read it."""

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.clinics import (
    ApiClientCreatedSchema,
    ApiClientCreateSchema,
    ApiClientSchema,
    ClinicCreateSchema,
    ClinicProviderAddSchema,
    ClinicSchema,
)
from api.services.clinic import api_clients, clinics
from api.services.flows import clinics as clinic_flow

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
    clinic = clinic_flow.add_provider(clinic_id=cid, provider_id=data["provider_id"], now=utcnow())
    return clinics.describe(clinic)


@blp.route("/clinics/<cid>", methods=["GET"])
@authenticated("provider", "admin")
@blp.etag
@blp.response(200, ClinicSchema)
@blp.alt_response(404, description="No such clinic, or you are not one of its providers.")
def get_clinic(cid):
    """The clinic, its providers and how many patients it serves (its providers, admins)."""
    return clinics.describe(clinics.clinic_for(cid, caller()))


@blp.route("/admin/clinics/<cid>/api-clients", methods=["POST"])
@authenticated("admin")
@blp.arguments(ApiClientCreateSchema)
@blp.response(201, ApiClientCreatedSchema)
@blp.alt_response(404, description="No such clinic.")
def create_api_client(data, cid):
    """A system client for the clinic's EHR: read-only FHIR access to the clinic's patients
    (OAuth 2.0 client credentials at `POST /fhir/R4/auth/token`). The secret is shown once."""
    client, secret = api_clients.create(
        clinic_id=cid, name=data.get("name"), created_by=caller().id, now=utcnow()
    )
    return {**api_clients.describe(client), "client_secret": secret}


@blp.route("/admin/clinics/<cid>/api-clients", methods=["GET"])
@authenticated("admin")
@blp.response(200, ApiClientSchema(many=True))
@blp.alt_response(404, description="No such clinic.")
def list_api_clients(cid):
    """The clinic's system clients, revoked ones included (never their secrets)."""
    return [api_clients.describe(c) for c in api_clients.listing(cid)]


@blp.route("/admin/clinics/<cid>/api-clients/<client_id>", methods=["DELETE"])
@authenticated("admin")
@blp.response(204)
@blp.alt_response(404, description="No such clinic, or no such client of it.")
def revoke_api_client(cid, client_id):
    """Revoke a client: no new tokens, and the ones it holds stop working at once."""
    api_clients.revoke(clinic_id=cid, client_id=client_id, revoked_by=caller().id, now=utcnow())
