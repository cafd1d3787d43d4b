"""The care team: invitations, joining, referrals, approval, ending; the access log."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.models.care_team import AccessLogEntry
from api.rate_limits import code_limit, per_caller
from api.schemas.care_team import (
    AccessLogEntrySchema,
    CareTeamMemberSchema,
    CareTeamRequestSchema,
    InvitationCreateSchema,
    InvitationSchema,
)
from api.services.care import care_team
from api.services.flows import memberships

blp = Blueprint("care_team", __name__, url_prefix="/api/v1", description="The care team.")


def _shape(members):
    providers = care_team.providers_by_id(members)
    shaped = []
    for member in members:
        provider = providers.get(member.provider)
        shaped.append(
            {
                "id": str(member.pk),
                "provider": {
                    "id": str(member.provider),
                    "name": provider.name if provider else None,
                    "specialty": provider.specialty if provider else None,
                },
                "specialty": provider.specialty if provider else None,
                "role": member.role,
                "status": member.status,
                "reason": member.reason,
                "created_at": member.created_at,
                "activated_at": member.activated_at,
                "ended_at": member.ended_at,
            }
        )
    return shaped


@blp.route("/invitations", methods=["POST"])
@authenticated("provider")
@blp.arguments(InvitationCreateSchema)
@blp.response(201, InvitationSchema)
def create_invitation(data):
    """A one-time code a patient redeems to join your panel."""
    return care_team.create_invitation(
        caller().id, role=data["role"], valid_days=data["valid_days"], now=utcnow()
    )


@blp.route("/patients/<pid>/care-team")
class CareTeam(MethodView):
    @authenticated()
    @blp.response(200, CareTeamMemberSchema(many=True))
    @blp.paginate(pager=None)
    def get(self, pid, pagination_parameters):
        """Members with provider, specialty, role and status."""
        scope = patient_scope(pid, Need.VIEW)
        members = care_team.members(scope.patient_id)
        pagination_parameters.item_count = members.count()
        page = members.skip(pagination_parameters.first_item).limit(pagination_parameters.page_size)
        return _shape(list(page))

    @authenticated()
    @code_limit("redeem-code", per_caller("redeem"))
    @blp.arguments(CareTeamRequestSchema)
    @blp.response(201, CareTeamMemberSchema)
    @blp.alt_response(409, description="Already on the care team or already referred.")
    @blp.alt_response(429, description="Too many refused codes; see Retry-After.")
    def post(self, data, pid):
        """`{code}`: the patient joins a provider's panel. `{provider_id, role, reason}`: refer."""
        now = utcnow()
        if "code" in data:
            scope = patient_scope(pid, Need.MANAGE)
            member = memberships.join_with_code(scope.patient, data["code"], now=now)
        else:
            scope = patient_scope(pid, Need.CARE)
            member = care_team.refer(
                scope.patient_id,
                referred_by=scope.caller.id,
                provider_id=data["provider_id"],
                role=data["role"],
                reason=data.get("reason"),
                now=now,
            )
        return _shape([member])[0]


@blp.route("/patients/<pid>/care-team/<member_id>/approve", methods=["POST"])
@authenticated()
@blp.response(200, CareTeamMemberSchema)
@blp.alt_response(409, description="The membership is not pending.")
def approve(pid, member_id):
    """The patient approves a referral: pending → active."""
    scope = patient_scope(pid, Need.MANAGE)
    return _shape([memberships.approve(scope.patient_id, member_id, now=utcnow())])[0]


@blp.route("/patients/<pid>/care-team/<member_id>", methods=["DELETE"])
@authenticated()
@blp.response(204)
@blp.alt_response(409, description="The membership has already ended.")
def end(pid, member_id):
    """End a membership (the patient, or that provider); access stops at once."""
    memberships.end(patient_scope(pid, Need.VIEW), member_id, now=utcnow())


@blp.route("/patients/<pid>/access-log", methods=["GET"])
@authenticated()
@blp.response(200, AccessLogEntrySchema(many=True))
@blp.paginate()
def access_log(pid):
    """Who read or changed your records, newest first."""
    scope = patient_scope(pid, Need.SELF)
    return AccessLogEntry.objects(patient=scope.patient_id).order_by("-at", "-id")
