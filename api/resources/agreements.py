"""Care agreements: drafts, edits (If-Match), lifecycle transitions and accepted versions.

The ETag of an agreement is `"v<version>"`: it changes with every change, and the version
number in it is what a PATCH's conditional update checks.
"""

import re

from flask import current_app, request
from flask.views import MethodView
from werkzeug.http import quote_etag

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.errors import PROBLEM_JSON, PreconditionRequired
from api.extensions import Blueprint
from api.schemas.agreements import (
    AgreementCreateSchema,
    AgreementListArgsSchema,
    AgreementPatchSchema,
    AgreementSchema,
    AgreementVersionSchema,
    StaleVersionProblemSchema,
    StatusConflictProblemSchema,
    TransitionResultSchema,
)
from api.services.care import agreements
from api.services.flows import agreements as agreement_flow

blp = Blueprint(
    "agreements",
    __name__,
    url_prefix="/api/v1/patients/<pid>/agreements",
    description="Care agreements: plans a provider proposes and a patient commits to.",
)

ETAG_HEADER = {
    "ETag": {
        "description": 'The agreement\'s version tag, `"v<version>"`.',
        "schema": {"type": "string"},
    }
}
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "schema": {"type": "string"},
    "description": "The ETag you last read.",
}
CONFLICT = {"schema": StatusConflictProblemSchema, "content_type": PROBLEM_JSON}
STALE = {"schema": StaleVersionProblemSchema, "content_type": PROBLEM_JSON}
_VERSION_TAG = re.compile(r"v(\d{1,9})")


def _etag(agreement) -> dict:
    return {"ETag": quote_etag(f"v{agreement.version}")}


def _expected_version(*, required: bool) -> int | None:
    """The version named by If-Match: None for `*` or (when optional) no header; a tag that
    is not one of ours names no version (-1), so it is simply stale."""
    if request.if_match.star_tag:
        return None
    tags = list(request.if_match)
    if not tags:
        if required:
            raise PreconditionRequired(
                "Send the agreement's ETag in If-Match, so edits made meanwhile are not lost."
            )
        return None
    # werkzeug yields None for a malformed tag (the fuzzer's find): it names no version.
    match = _VERSION_TAG.fullmatch(tags[0] or "")
    return int(match.group(1)) if match else -1


@blp.route("")
class Agreements(MethodView):
    @authenticated()
    @blp.arguments(AgreementListArgsSchema, location="query")
    @blp.response(200, AgreementSchema(many=True))
    @blp.paginate()
    def get(self, args, pid):
        """The patient's agreements, newest first; filter by `status`."""
        scope = patient_scope(pid, Need.VIEW)
        return agreements.of_patient(scope.patient_id, status=args.get("status"))

    @authenticated()
    @blp.arguments(AgreementCreateSchema)
    @blp.response(201, AgreementSchema, headers=ETAG_HEADER)
    @blp.alt_response(403, description="Only a provider on the care team may create one.")
    def post(self, data, pid):
        """Create a draft (a provider on the team), from scratch or from `template_id`."""
        scope = patient_scope(pid, Need.CARE)
        agreement = agreements.create_draft(scope=scope, data=data, now=utcnow())
        return agreement, 201, _etag(agreement)


@blp.route("/<aid>")
class AgreementById(MethodView):
    @authenticated()
    @blp.response(200, AgreementSchema, headers=ETAG_HEADER)
    @blp.alt_response(304, description="Not modified since the ETag in If-None-Match.")
    def get(self, pid, aid):
        """One agreement: the plan in force at the top level, a pending edit in `revision`."""
        scope = patient_scope(pid, Need.VIEW)
        agreement = agreements.get(scope.patient_id, aid)
        headers = _etag(agreement)
        if request.if_none_match.contains(f"v{agreement.version}"):
            return current_app.response_class(status=304, headers=headers)
        return agreement, 200, headers

    @authenticated()
    @blp.arguments(AgreementPatchSchema)
    @blp.response(200, AgreementSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, description="The agreement is completed or revoked.", **CONFLICT)
    @blp.alt_response(412, description="If-Match is stale: it changed meanwhile.", **STALE)
    @blp.alt_response(428, description="If-Match is missing.")
    @blp.doc(parameters=[{**IF_MATCH, "required": True}])
    def patch(self, changes, pid, aid):
        """Edit an agreement (a provider on the team); needs If-Match.

        Editing an active agreement proposes a revision: the active plan stays in force until
        the patient accepts it.
        """
        scope = patient_scope(pid, Need.CARE)
        agreement = agreements.update(
            scope=scope,
            agreement_id=aid,
            changes=changes,
            expected_version=_expected_version(required=True),
            now=utcnow(),
        )
        return agreement, 200, _etag(agreement)


def _transition_view(action: str, summary: str):
    @authenticated()
    @blp.response(200, TransitionResultSchema, headers=ETAG_HEADER)
    @blp.alt_response(
        409, description="Not possible in the agreement's current status.", **CONFLICT
    )
    @blp.alt_response(412, description="If-Match was sent and is stale.", **STALE)
    @blp.alt_response(422, description="Proposing needs at least one goal or check-up.")
    @blp.doc(summary=summary, parameters=[IF_MATCH])
    def view(pid, aid):
        scope = patient_scope(pid, agreements.need_for(action))
        outcome = agreement_flow.transition(
            scope=scope,
            agreement_id=aid,
            action=action,
            expected_version=_expected_version(required=False),
            minor_age=current_app.config["MINOR_AGE"],
            now=utcnow(),
        )
        return outcome, 200, _etag(outcome.agreement)

    view.__name__ = action
    blp.route(f"/<aid>/{action}", methods=["POST"])(view)


_SUMMARIES = {
    "propose": "Propose a draft to the patient (a provider on the team).",
    "accept": "Accept the proposal or a pending revision (the patient, or a caregiver with "
    "manage); completes other active agreements sharing a condition.",
    "decline": "Decline the proposal (back to draft) or a pending revision (dropped).",
    "complete": "Complete an active agreement (a provider on the team).",
    "revoke": "Revoke a draft, proposal or active agreement (a provider on the team).",
}
for _action in agreements.ACTIONS:
    _transition_view(_action, _SUMMARIES[_action])


@blp.route("/<aid>/versions", methods=["GET"])
@authenticated()
@blp.response(200, AgreementVersionSchema(many=True))
@blp.paginate()
def versions(pid, aid):
    """Every accepted version, newest first; they never change."""
    scope = patient_scope(pid, Need.VIEW)
    return agreements.versions(agreements.get(scope.patient_id, aid))
