"""Caregivers: grants on a patient's records, and the family switcher of the one who cares."""

from flask import current_app
from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.rate_limits import code_limit, per_caller
from api.schemas.caregivers import (
    DependantSchema,
    GrantCodeSchema,
    GrantCreateSchema,
    GrantSchema,
    RedeemSchema,
)
from api.services.identity import caregivers
from api.services.identity.minors import is_minor

blp = Blueprint(
    "caregivers",
    __name__,
    url_prefix="/api/v1",
    description="Caregivers: a parent, guardian or spouse acting for a patient within a grant.",
)


def _minor_age() -> int:
    return current_app.config["MINOR_AGE"]


def _grant(grant, patient, names, now) -> dict:
    caregiver = names.get(grant.caregiver)
    return {
        "id": str(grant.pk),
        "caregiver": {"id": str(grant.caregiver), "name": caregiver.name if caregiver else None}
        if grant.caregiver
        else None,
        "relationship": grant.relationship,
        "permissions": grant.permissions,
        "status": caregivers.status_of(grant, patient, now),
        "expires_on": grant.expires_on,
        "code_expires_at": grant.code_expires_at if grant.status == "pending" else None,
        "issued_by": _issuer(grant, names),
        "created_at": grant.created_at,
        "activated_at": grant.activated_at,
        "ended_at": grant.ended_at,
        "ended_reason": grant.ended_reason,
    }


def _issuer(grant, names) -> dict:
    issuer = names.get(grant.created_by)
    relation = grant.issuer_relation
    if relation is None and issuer is not None:
        relation = (
            "self"
            if grant.created_by == grant.patient
            else ("team" if issuer.role == "provider" else "caregiver")
        )
    return {
        "id": str(grant.created_by),
        "name": issuer.name if issuer else None,
        "relation": relation,
    }


def _dependant(grant, patient, now) -> dict:
    return {
        "grant_id": str(grant.pk),
        "patient_id": str(patient.pk),
        "name": patient.name,
        "birth_date": patient.birth_date,
        "minor": is_minor(patient, now, _minor_age()),
        "timezone": patient.timezone,
        "relationship": grant.relationship,
        "permissions": grant.permissions,
        "expires_on": grant.expires_on,
    }


@blp.route("/patients/<pid>/caregivers")
class Caregivers(MethodView):
    @authenticated()
    @blp.response(200, GrantSchema(many=True))
    @blp.alt_response(403, description="A caregiver without the 'manage' permission.")
    @blp.paginate(pager=None)
    def get(self, pid, pagination_parameters):
        """The patient's grants and their status (the patient, the team, or `manage`)."""
        scope = patient_scope(pid, Need.VIEW)
        now = utcnow()
        grants = caregivers.grants_of(scope)
        pagination_parameters.item_count = grants.count()
        page = list(
            grants.skip(pagination_parameters.first_item).limit(pagination_parameters.page_size)
        )
        names = caregivers.people_by_id(page)
        return [_grant(grant, scope.patient, names, now) for grant in page]

    @authenticated()
    @blp.arguments(GrantCreateSchema)
    @blp.response(201, GrantCodeSchema)
    @blp.alt_response(
        403,
        description="A caregiver without 'manage', or a provider for a patient who is not a minor.",
    )
    def post(self, data, pid):
        """Issue a one-time code that opens the records to whoever redeems it.

        The patient, a caregiver with `manage` (never more than it holds), or for a minor a
        provider on the care team. The code is valid for 7 days and shown only here.
        """
        scope = patient_scope(pid, Need.VIEW)
        grant, code = caregivers.issue(
            scope,
            relationship=data["relationship"],
            permissions=data["permissions"],
            expires_on=data.get("expires_on"),
            minor_age=_minor_age(),
            now=utcnow(),
        )
        return {
            "id": str(grant.pk),
            "code": code,
            "expires_at": grant.code_expires_at,
            "status": grant.status,
            "relationship": grant.relationship,
            "permissions": grant.permissions,
            "expires_on": grant.expires_on,
        }


@blp.route("/patients/<pid>/caregivers/<gid>", methods=["DELETE"])
@authenticated()
@blp.response(204)
@blp.alt_response(403, description="Not the patient, that caregiver, or its issuer.")
@blp.alt_response(409, description="The grant has already ended.")
def end_grant(pid, gid):
    """End a grant at once: the patient, that caregiver, or (for a minor) a provider."""
    scope = patient_scope(pid, Need.VIEW)
    caregivers.end(scope, gid, minor_age=_minor_age(), now=utcnow())


@blp.route("/me/dependants")
class Dependants(MethodView):
    @authenticated()
    @blp.response(200, DependantSchema(many=True))
    @blp.paginate()
    def get(self):
        """The patients you act for, with relationship and permissions (a family switcher)."""
        now = utcnow()
        return [
            _dependant(grant, patient, now)
            for grant, patient in caregivers.dependants(caller().id, now=now)
        ]

    @authenticated()
    @code_limit("redeem-code", per_caller("redeem"))
    @blp.alt_response(429, description="Too many refused codes; see Retry-After.")
    @blp.arguments(RedeemSchema)
    @blp.response(201, DependantSchema)
    def post(self, data):
        """Redeem a caregiver code: its grant becomes active for you."""
        now = utcnow()
        grant, patient = caregivers.redeem(caller().id, data["code"], now=now)
        return _dependant(grant, patient, now)
