"""Coordination and records: the FHIR export, the visit report, and erasing one's account."""

from flask import Response, stream_with_context

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.fhir.urls import fhir_base_url
from api.schemas.records import BundleSchema, ErasureSchema
from api.services.flows import erasure as erasure_flow
from api.services.records import export, report

blp = Blueprint(
    "records",
    __name__,
    url_prefix="/api/v1",
    description="The patient's record: FHIR export, visit report, erasure.",
)


@blp.route("/patients/<pid>/export", methods=["GET"])
@authenticated()
@blp.response(
    200,
    BundleSchema,
    content_type=export.FHIR_JSON,
    description="A FHIR R4 Bundle (type `collection`): Patient, Practitioner, RelatedPerson "
    "per active caregiver, CareTeam, CarePlan per agreement, Goal per goal, Observation per "
    "log entry (LOINC, UCUM), Procedure per check-up done, MedicationStatement per "
    "medication and Flag per unresolved alert.",
)
def export_record(pid):
    """The patient's whole record as FHIR R4, for the patient, the team and caregivers."""
    scope = patient_scope(pid, Need.VIEW)
    chunks = export.bundle(scope.patient, now=utcnow(), base=fhir_base_url())
    return Response(stream_with_context(chunks), mimetype=export.FHIR_JSON)


@blp.route("/patients/<pid>/report", methods=["GET"])
@authenticated()
@blp.doc(
    responses={
        "200": {
            "description": "A printable HTML page: the agreement, adherence per goal over 90 "
            "days as inline SVG charts, check-ups and tests, readings out of range, "
            "medications and alerts. It loads nothing from elsewhere and runs no script.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    }
)
def visit_report(pid):
    """What a provider looks at before a visit, on one printable page."""
    scope = patient_scope(pid, Need.VIEW)
    html = report.render(scope.patient, now=utcnow())
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = report.content_security_policy()
    return response


@blp.route("/patients/<pid>", methods=["DELETE"])
@authenticated()
@blp.arguments(ErasureSchema)
@blp.response(204)
@blp.alt_response(403, description="Only the patient may erase their account.")
@blp.alt_response(422, description="The password is not correct; nothing was erased.")
def erase(data, pid):
    """Erase your account and every record of it (`pid` is `me`); confirm with your password.

    Every token stops working, caregivers lose access, and what others recorded about you
    no longer names you. One access-log line, without health data, records the erasure.
    """
    scope = patient_scope(pid, Need.SELF)
    erasure_flow.erase_account(scope.patient, password=data["password"], now=utcnow())
