"""The medication list shared by the care team, with the duplicate therapy guard."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.medications import (
    MEDICATION_EXAMPLE,
    DuplicateTherapyProblemSchema,
    MedicationCreateSchema,
    MedicationPatchSchema,
    MedicationQuerySchema,
    MedicationSchema,
)
from api.services.care import medications

blp = Blueprint(
    "medications", __name__, url_prefix="/api/v1", description="Medications (no duplication)."
)


@blp.route("/patients/<pid>/medications")
class Medications(MethodView):
    @authenticated()
    @blp.arguments(MedicationQuerySchema, location="query")
    @blp.response(200, MedicationSchema(many=True))
    @blp.paginate()
    def get(self, query, pid):
        """Active and past medications, active first, each with who prescribed or reported it."""
        scope = patient_scope(pid, Need.VIEW)
        return medications.for_patient(scope.patient_id, status=query.get("status"))

    @authenticated()
    @blp.arguments(MedicationCreateSchema, example=MEDICATION_EXAMPLE)
    @blp.response(201, MedicationSchema)
    @blp.alt_response(403, description="A caregiver whose grant lacks `log`.")
    @blp.alt_response(
        409,
        schema=DuplicateTherapyProblemSchema,
        content_type="application/problem+json",
        description="Duplicates an active medication (same ingredient, or same ATC level-4 "
        "subgroup by the same route); `duplicates` names each one with its prescriber and "
        "since when. Resend with `confirm_duplicate: true` and a `reason` to start it anyway.",
    )
    def post(self, data, pid):
        """A provider on the team prescribes; the patient or a caregiver self-reports."""
        scope = patient_scope(pid, Need.LOG)
        return medications.add(scope, data, now=utcnow())


@blp.route("/patients/<pid>/medications/<mid>")
class MedicationById(MethodView):
    @authenticated()
    @blp.arguments(MedicationPatchSchema)
    @blp.response(200, MedicationSchema)
    @blp.alt_response(403, description="Only a provider on the care team changes medications.")
    @blp.alt_response(409, description="The medication has been stopped.")
    def patch(self, data, pid, mid):
        """Change the dose or frequency, or stop it (`stop_on`, `stop_reason`)."""
        scope = patient_scope(pid, Need.CARE)
        return medications.change(scope, mid, data, now=utcnow())
