"""Patient records a provider creates: a child with no login, joined to the provider's panel."""

from flask import current_app

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.patients import ChildCreateSchema, PatientRecordSchema
from api.services.flows import memberships
from api.services.identity.minors import is_minor

blp = Blueprint(
    "patients", __name__, url_prefix="/api/v1", description="Patient records (children)."
)


@blp.route("/patients", methods=["POST"])
@authenticated("provider")
@blp.arguments(ChildCreateSchema)
@blp.response(201, PatientRecordSchema)
def create_patient(data):
    """Create a child's record on your panel; then invite the parents as caregivers."""
    now = utcnow()
    patient = memberships.create_child(caller().id, now=now, **data)
    return {
        "id": str(patient.pk),
        "name": patient.name,
        "birth_date": patient.birth_date,
        "timezone": patient.timezone,
        "minor": is_minor(patient, now, current_app.config["MINOR_AGE"]),
        "has_login": patient.has_login,
        "created_at": patient.created_at,
    }
