"""Check-ups and tests: due dates and statuses, completions (with the duplicate-test
guard), and every test done across the care team."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.checkups import (
    CheckupStatusSchema,
    CompletionCreateSchema,
    CompletionSchema,
    DuplicateTestProblemSchema,
)
from api.services.care import checkups
from api.services.flows import checkups as checkup_flow

blp = Blueprint("checkups", __name__, url_prefix="/api/v1", description="Check-ups and tests.")


@blp.route("/patients/<pid>/checkups", methods=["GET"])
@authenticated()
@blp.response(200, CheckupStatusSchema(many=True))
@blp.paginate()
def list_checkups(pid):
    """Every check-up of the active agreements with `next_due_on` and its status, soonest
    first."""
    scope = patient_scope(pid, Need.VIEW)
    return checkups.status_for(scope.patient_id, utcnow())


@blp.route("/patients/<pid>/checkups/<cid>/completions", methods=["POST"])
@authenticated()
@blp.arguments(CompletionCreateSchema)
@blp.response(201, CompletionSchema)
@blp.alt_response(403, description="A caregiver whose grant lacks `log`.")
@blp.alt_response(404, description="No such check-up in the active agreements.")
@blp.alt_response(
    409,
    schema=DuplicateTestProblemSchema,
    content_type="application/problem+json",
    description="The same test (same code, else name) was done within half its interval; "
    "`earlier` names that completion (date, result, who). Resend with "
    "`confirm_duplicate: true` to record it anyway.",
)
def complete(data, pid, cid):
    """A provider on the team records a check-up done; the patient (or a caregiver with
    `log`) may self-report one, marked `self_reported`. Moves `next_due_on`."""
    scope = patient_scope(pid, Need.LOG)
    completion = checkup_flow.record_completion(
        patient_id=scope.patient_id,
        checkup_id=cid,
        data=data,
        recorded_by=scope.caller.id,
        recorded_by_role=scope.caller.role,
        self_reported=scope.relation != "team",
        now=utcnow(),
    )
    return checkups.present([completion])[0]


@blp.route("/patients/<pid>/tests")
class Tests(MethodView):
    @authenticated()
    @blp.response(200, CompletionSchema(many=True))
    @blp.paginate(pager=None)
    def get(self, pid, pagination_parameters):
        """Every check-up completion across the care team, newest first: what, when, who."""
        scope = patient_scope(pid, Need.VIEW)
        done = checkups.completions_for(scope.patient_id)
        pagination_parameters.item_count = done.count()
        first, size = pagination_parameters.first_item, pagination_parameters.page_size
        return checkups.present(list(done.skip(first).limit(size)))
