"""THE object-level access rule. Every patient-scoped route calls `patient_scope`.

A caller reaches a patient's records as:
  - `self`      the patient themselves,
  - `team`      a provider with an *active* membership in the patient's care team,
  - `caregiver` an account holding an active, unexpired grant, within its permissions,
  - `clinic`    a clinic's system client (FHIR API only, read-only), for a patient on the
                active care team of one of that clinic's providers.
Anyone else gets 404, never a hint that the patient exists. A caller who is let in but lacks
the permission the route needs gets 403. Every access by someone other than the patient is
written to the patient's access log.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from bson import ObjectId
from bson.errors import InvalidId
from flask import g, request
from flask_jwt_extended import verify_jwt_in_request

from api import auth
from api.auth import Caller, caller
from api.clock import utcnow
from api.errors import Forbidden, NotFound, Unauthorized
from api.models.care_team import AccessLogEntry, CareTeamMember
from api.models.caregiver import Grant
from api.models.clinic import Clinic
from api.models.user import User
from api.services.clinic.api_clients import CLIENT_ROLE
from api.services.identity.caregivers import grant_in_force
from api.services.tracking import uploaders


class Need(StrEnum):
    """What a route needs; caregiver permissions are cumulative: view < log < manage."""

    VIEW = "view"  # read what the patient reads
    LOG = "log"  # record what the patient did (logs, education progress, self-reports)
    MANAGE = "manage"  # act as the patient: accept agreements, profile, devices, messages
    SELF = "self"  # only the patient themselves (access log, erasure)
    CARE = "care"  # clinical acts: only a provider on the active care team


_CAREGIVER_LEVELS = {"view": 1, "log": 2, "manage": 3}
_NEEDED_LEVEL = {Need.VIEW: 1, Need.LOG: 2, Need.MANAGE: 3}


@dataclass
class Scope:
    """The outcome of the rule: whose records, who asks, and in what capacity."""

    patient_id: ObjectId
    caller: Caller
    relation: str
    membership: CareTeamMember | None = None
    grant: Grant | None = None
    _patient: User | None = field(default=None, repr=False)

    @property
    def patient(self) -> User:
        if self._patient is None:
            self._patient = User.objects(pk=self.patient_id, role="patient").first()
            if self._patient is None:
                raise NotFound()
        return self._patient

    @property
    def caller_id(self) -> ObjectId:
        return self.caller.id

    @property
    def on_behalf(self) -> bool:
        """True when someone other than the patient acts on the patient's records."""
        return self.relation != "self"

    @property
    def permissions(self) -> tuple[str, ...]:
        if self.relation == "caregiver":
            return tuple(self.grant.permissions)
        if self.relation == "clinic":
            return ("view",)
        return tuple(_CAREGIVER_LEVELS)


def _parse_pid(pid: str, who: Caller) -> ObjectId:
    if pid == "me":
        if who.role != "patient":
            raise NotFound()
        return who.id
    try:
        return ObjectId(pid)
    except (InvalidId, TypeError):
        raise NotFound() from None


def _grant_level(grant: Grant) -> int:
    return max(_CAREGIVER_LEVELS[p] for p in grant.permissions)


def _caregiver_scope(patient_id: ObjectId, who: Caller, now: datetime) -> Scope | None:
    """The caller's grant in force today, in the patient's time zone (redeeming a new code
    ends the previous one, so there is one; a race may briefly leave two: take the stronger).
    """
    grants = list(Grant.objects(caregiver=who.id, patient=patient_id, status="active"))
    if not grants:
        return None
    patient = None
    if any(g.expires_on is not None for g in grants):
        # Loaded in full, so the route's `scope.patient` costs no second read.
        patient = User.objects(pk=patient_id, role="patient").first()
        if patient is None:
            return None
        today = now.astimezone(ZoneInfo(patient.timezone or "UTC")).date()
        grants = [g for g in grants if grant_in_force(g, today)]
        if not grants:
            return None
    grant = max(grants, key=_grant_level)
    return Scope(patient_id, who, "caregiver", grant=grant, _patient=patient)


def _clinic_scope(patient_id: ObjectId, who: Caller) -> Scope | None:
    """A clinic client reaches the patients its clinic's providers actively care for."""
    clinic = Clinic.objects(pk=who.clinic).only("providers").first() if who.clinic else None
    if clinic is None or not clinic.providers:
        return None
    # By (patient, status): the embedded server plans an added `$in` as a collection scan.
    providers = set(clinic.providers)
    active = CareTeamMember.objects(patient=patient_id, status="active")
    membership = next((m for m in active if m.provider in providers), None)
    if membership is None:
        return None
    return Scope(patient_id, who, "clinic", membership=membership)


def readable_patients(who: Caller, now: datetime) -> set[ObjectId]:
    """Whom the caller may read, for listing (each one is still admitted by `patient_scope`
    when shown): a patient themselves and those whose grants they hold, a provider their
    active teams' patients, a clinic client its providers' patients."""
    found: set[ObjectId] = set()
    if who.role == CLIENT_ROLE:
        clinic = Clinic.objects(pk=who.clinic).only("providers").first() if who.clinic else None
        for provider in clinic.providers if clinic else []:
            found |= {m.patient for m in CareTeamMember.objects(provider=provider, status="active")}
        return found
    if who.role == "patient":
        found.add(who.id)
    if who.role == "provider":
        found |= {m.patient for m in CareTeamMember.objects(provider=who.id, status="active")}
    found |= {g.patient for g in Grant.objects(caregiver=who.id) if g.status == "active"}
    return found


def _relation(patient_id: ObjectId, who: Caller, now: datetime) -> Scope | None:
    if who.role == CLIENT_ROLE:
        return _clinic_scope(patient_id, who)
    # A provider's or an admin's own id names no patient records: "self" is for patients.
    if who.id == patient_id and who.role == "patient":
        return Scope(patient_id, who, "self")
    if who.role == "provider":
        membership = CareTeamMember.objects(
            patient=patient_id, provider=who.id, status="active"
        ).first()
        if membership is not None:
            return Scope(patient_id, who, "team", membership=membership)
    return _caregiver_scope(patient_id, who, now)


def _check_need(scope: Scope, need: Need) -> None:
    if need is Need.CARE:
        if scope.relation != "team":
            raise Forbidden("Only a provider on the patient's care team may do this.")
        return
    if need is Need.SELF:
        if scope.relation != "self":
            raise Forbidden("Only the patient may do this.")
        return
    if scope.relation == "clinic":
        if need is not Need.VIEW:
            raise Forbidden("A clinic system client may only read.")
        return
    if scope.relation == "self":
        return
    if scope.relation == "team":
        if need is Need.MANAGE:
            raise Forbidden("Only the patient or their caregiver may do this.")
        return
    if _grant_level(scope.grant) < _NEEDED_LEVEL[need]:
        raise Forbidden(f"This caregiver grant does not include the '{need}' permission.")


def record_access(scope: Scope, action: str, now: datetime) -> None:
    AccessLogEntry(
        patient=scope.patient_id,
        actor=scope.caller.id,
        actor_role=scope.caller.role,
        relation=scope.relation,
        action=action,
        at=now,
    ).save()


_ADMISSION_KEY = "carepact.admission"


def admit(pid: str, *, now: datetime | None = None) -> Scope:
    """The caller's relation to `{pid}`, resolved once per request; 404 when there is none.

    `authenticated()` calls this before the body or query string is parsed, so a stranger
    gets the same 404 whatever they send and never learns what a route would accept.
    """
    # Kept in the WSGI environ, which lives exactly as long as the request (`g` may outlive it).
    admitted = request.environ.get(_ADMISSION_KEY)
    if admitted is not None and admitted[0] == pid:
        return admitted[1]
    who = caller()
    scope = _relation(_parse_pid(pid, who), who, now or utcnow())
    if scope is None:
        raise NotFound()
    request.environ[_ADMISSION_KEY] = (pid, scope)
    return scope


def patient_scope(pid: str, need: Need | str = Need.VIEW, *, now: datetime | None = None) -> Scope:
    """Resolve `{pid}` for the signed-in caller, or raise 404 / 403. `need` may be a service's
    plain name of it (`agreements.need_for`)."""
    now = now or utcnow()
    scope = admit(pid, now=now)
    _check_need(scope, Need(need))
    if scope.on_behalf:
        rule = request.url_rule.rule if request.url_rule else request.path
        record_access(scope, f"{request.method} {rule}", now)
    return scope


# --- protocol adapters ---------------------------------------------------------------------


@dataclass(frozen=True)
class UploaderScope:
    """A Nightscout uploader's reach: the Nightscout routes of its one patient, nothing else.
    A CarePact token never opens those routes, and an uploader key never opens any other."""

    uploader: dict

    @property
    def uploader_id(self) -> ObjectId:
        return self.uploader["_id"]

    @property
    def patient_id(self) -> ObjectId:
        return self.uploader["patient"]

    @property
    def tz(self) -> str:
        return self.uploader.get("tz") or "UTC"

    @property
    def created_at(self) -> datetime:
        return self.uploader["created_at"]


def uploader_scope(api_secret_sha1: str | None) -> UploaderScope:
    """The active uploader holding this key, or 401 (a revoked or unknown key alike)."""
    found = uploaders.authenticate(api_secret_sha1) if api_secret_sha1 else None
    if found is None:
        raise Unauthorized("Invalid/Missing")
    return UploaderScope(found)


def authenticated(*roles: str, refresh: bool = False, revocation_by_write: bool = False):
    """Require a valid, unrevoked token; with `roles`, a caller of one of them (else 403).

    On a patient-scoped route (`{pid}`), a caller with no relation to that patient is turned
    away with 404 here, before anything else about the request is looked at.

    `revocation_by_write`: for a patient's token on their own record, the route's write
    checks revocation (`session_memory`) and passes `auth.session_check()` to it; a request
    that ends without that write confirming it is checked before it is answered.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not revocation_by_write:
                verify_jwt_in_request(refresh=refresh)
                return _admitted(view, roles, *args, **kwargs)
            auth.leave_revocation_to_write()
            verify_jwt_in_request(refresh=refresh)
            try:
                result = _admitted(view, roles, *args, **kwargs)
            except Exception:
                auth.settle_session()  # a 401 for a revoked token replaces any other answer
                raise
            auth.settle_session()
            return result

        wrapper._carepact_auth = True
        return wrapper

    return decorate


def _admitted(view, roles, *args, **kwargs):
    """`view` for a verified caller of one of `roles`, admitted to `{pid}`."""
    who = caller()
    g.caller_id = str(who.id)
    if who.role == CLIENT_ROLE:
        raise Unauthorized(
            "A clinic system client's token is for the FHIR API only.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if roles and who.role not in roles:
        raise Forbidden(f"This action is for {' or '.join(roles)} accounts.")
    if "pid" in kwargs:
        admit(kwargs["pid"])
    return view(*args, **kwargs)
