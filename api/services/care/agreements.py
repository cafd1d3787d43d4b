"""The agreement lifecycle: drafts, edits and revisions, and the one transition table.

    draft ──propose──▶ proposed ──accept──▶ active ──complete──▶ completed
      ▲                   │                   │
      └─────decline───────┘                   └──revoke──▶ revoked  (also from draft/proposed)

An active agreement with a pending revision is the pseudo-state `revision`: accepting it puts
the revision in force as a new version, declining drops it; the active content stays in force
meanwhile. Every change bumps `version` (the ETag) through a conditional update on the status
and version that were read, so of two concurrent changes exactly one wins.
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bson import ObjectId
from mongoengine.errors import NotUniqueError

from api import transactions
from api.errors import (
    Conflict,
    Forbidden,
    PreconditionFailed,
    ValidationFailed,
    field_error,
)
from api.models.agreement import Agreement, AgreementContent, AgreementVersion
from api.services.care import agreement_templates
from api.services.care.agreement_content import CONTENT_FIELDS, build_content, content_data, ids_in
from api.services.common import local_days, lookup
from api.services.common.acting import Acting
from api.services.common.intervals import add_interval, parse_interval
from api.services.identity.minors import is_minor

REVISION = "revision"  # pseudo-state: active, with an edit awaiting the patient


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    need: str  # care: a provider on the team; manage: the patient or a managing caregiver


TRANSITIONS = (
    Transition("propose", "draft", "proposed", "care"),
    Transition("accept", "proposed", "active", "manage"),
    Transition("decline", "proposed", "draft", "manage"),
    Transition("accept", REVISION, "active", "manage"),
    Transition("decline", REVISION, "active", "manage"),
    Transition("complete", "active", "completed", "care"),
    Transition("complete", REVISION, "completed", "care"),
    Transition("revoke", "draft", "revoked", "care"),
    Transition("revoke", "proposed", "revoked", "care"),
    Transition("revoke", "active", "revoked", "care"),
    Transition("revoke", REVISION, "revoked", "care"),
)
ACTIONS = tuple(dict.fromkeys(t.action for t in TRANSITIONS))
EDITABLE = ("draft", "proposed", "active")


def need_for(action: str) -> str:
    """Who may fire `action` (one `api.access.Need` per action, whatever the source state)."""
    return next(t.need for t in TRANSITIONS if t.action == action)


def state_of(agreement: Agreement) -> str:
    if agreement.status == "active" and agreement.revision is not None:
        return REVISION
    return agreement.status


def allowed_actions(agreement: Agreement) -> list[str]:
    """What may be done to the agreement now, by anyone (the console offers these)."""
    state = state_of(agreement)
    return [t.action for t in TRANSITIONS if t.source == state]


def _transition(agreement: Agreement, action: str) -> Transition:
    state = state_of(agreement)
    for transition in TRANSITIONS:
        if transition.action == action and transition.source == state:
            return transition
    allowed = allowed_actions(agreement)
    pending = " with a revision awaiting the patient" if state == REVISION else ""
    raise Conflict(
        f"Cannot {action} an agreement that is {agreement.status}{pending}.",
        current_status=agreement.status,
        allowed_actions=allowed,
    )


# ---- reading ---------------------------------------------------------------------------


def get(patient_id: ObjectId, agreement_id: str) -> Agreement:
    return lookup.patients(Agreement, patient_id, agreement_id)


def of_patient(patient_id: ObjectId, *, status: str | None = None):
    query = Agreement.objects(patient=patient_id)
    if status is not None:
        query = query.filter(status=status)
    return query.order_by("-created_at", "-id")


def versions(agreement: Agreement):
    """Accepted versions, newest first."""
    return AgreementVersion.objects(agreement=agreement.pk).order_by("-number")


# ---- drafts and edits ------------------------------------------------------------------


def _local_today(patient, now: datetime):
    return now.astimezone(ZoneInfo(patient.timezone or "UTC")).date()


def create_draft(*, scope: Acting, data: dict, now: datetime) -> Agreement:
    """A provider's draft, from scratch or from a template (fields sent override it)."""
    plan, review_after, template_id = {}, None, data.get("template_id")
    if template_id is not None:
        template = agreement_templates.find(template_id)
        if template is None:
            raise field_error("template_id", "No agreement template with this id.")
        plan, review_after = content_data(template.content, ids=False), template.review_after
    plan.update({name: data[name] for name in CONTENT_FIELDS if name in data})
    if plan.get("start_on") is None:
        plan["start_on"] = _local_today(scope.patient, now)
    if plan.get("review_on") is None and review_after:
        plan["review_on"] = add_interval(plan["start_on"], parse_interval(review_after))
    agreement = Agreement(
        patient=scope.patient_id,
        author=scope.caller_id,
        status="draft",
        version=1,
        content=build_content(plan),
        template_id=template_id,
        created_at=now,
        updated_at=now,
    )
    agreement.save(force_insert=True)
    return agreement


def _check_version(agreement: Agreement, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != agreement.version:
        raise PreconditionFailed(
            "The agreement has changed since you read it; reload it and retry.",
            current_version=agreement.version,
        )


def _apply(agreement: Agreement, now: datetime, **changes) -> Agreement | None:
    """Change the agreement only if its status and version are still what was read."""
    return Agreement.objects(
        pk=agreement.pk, status=agreement.status, version=agreement.version
    ).modify(new=True, inc__version=1, set__updated_at=now, **changes)


def update(
    *, scope: Acting, agreement_id: str, changes: dict, expected_version: int | None, now: datetime
) -> Agreement:
    """Edit a draft or proposal in place; an edit of an active agreement becomes a revision
    that waits for the patient while the active content stays in force."""
    agreement = get(scope.patient_id, agreement_id)
    _check_version(agreement, expected_version)
    if agreement.status not in EDITABLE:
        raise Conflict(
            f"An agreement that is {agreement.status} can no longer be changed.",
            current_status=agreement.status,
        )
    if agreement.status == "active":
        base = agreement.revision or agreement.content
        revision = build_content(
            {**content_data(base), **changes}, known_ids=ids_in(agreement.content, base)
        )
        updated = _apply(
            agreement,
            now,
            set__revision=revision,
            set__revision_proposed_by=scope.caller_id,
            set__revision_proposed_at=now,
        )
    else:
        content = build_content(
            {**content_data(agreement.content), **changes}, known_ids=ids_in(agreement.content)
        )
        updated = _apply(agreement, now, set__content=content)
    if updated is None:
        raise PreconditionFailed(
            "The agreement was changed by someone else meanwhile; reload it and retry."
        )
    return updated


# ---- transitions -----------------------------------------------------------------------


@dataclass
class Outcome:
    agreement: Agreement
    completed_agreements: list[str] = field(default_factory=list)
    # Activated, revision accepted, completed or revoked: the agreement flow follows these.
    changed: list[Agreement] = field(default_factory=list)


def transition(
    *,
    scope: Acting,
    agreement_id: str,
    action: str,
    expected_version: int | None = None,
    minor_age: int,
    now: datetime,
) -> Outcome:
    """Fire `action` on the agreement; 409 with the current status when it is not legal now.
    (`scope` has already been checked against `need_for(action)`.)"""
    agreement = get(scope.patient_id, agreement_id)
    _check_version(agreement, expected_version)
    step = _transition(agreement, action)
    if step.action == "accept":
        return _accept(scope, agreement, minor_age, now)
    if step.action == "propose":
        if not agreement.content.goals and not agreement.content.checkups:
            raise ValidationFailed(
                {"goals": ["Add at least one goal or check-up before proposing."]}
            )
        updated = _apply(
            agreement,
            now,
            set__status="proposed",
            set__proposed_by=scope.caller_id,
            set__proposed_at=now,
        )
    elif step.action == "decline" and step.source == REVISION:
        updated = _apply(
            agreement,
            now,
            unset__revision=True,
            unset__revision_proposed_by=True,
            unset__revision_proposed_at=True,
        )
    elif step.action == "decline":
        updated = _apply(agreement, now, set__status="draft")
    else:  # complete, revoke: the agreement ends; a pending revision ends with it
        updated = _apply(
            agreement,
            now,
            set__status=step.target,
            set__ended_at=now,
            set__ended_by=scope.caller_id,
            unset__revision=True,
            unset__revision_proposed_by=True,
            unset__revision_proposed_at=True,
        )
    if updated is None:
        _raise_lost_race(agreement)
    ended = step.target in ("completed", "revoked")
    return Outcome(updated, changed=[updated] if ended else [])


def _raise_lost_race(agreement: Agreement):
    current = Agreement.objects(pk=agreement.pk).only("status").first()
    status = current.status if current else agreement.status
    raise Conflict(
        "The agreement changed while this was being done; reload it and retry.",
        current_status=status,
    )


class _LostRace(Exception):
    """Someone else changed the agreement between our read and our write."""


def _accept(scope: Acting, agreement: Agreement, minor_age: int, now: datetime) -> Outcome:
    """Put the proposal (or the pending revision) in force as a new immutable version.

    The version, the conditional flip and the completion of the agreements it replaces are
    one transaction: a lost race or a database failure anywhere leaves none of them (a
    version left behind would block every later accept with a 409). The flow follows after."""
    if scope.relation == "self" and is_minor(scope.patient, now, minor_age):
        raise Conflict(
            "A minor cannot accept an agreement alone: a caregiver with the 'manage' "
            "permission must accept it.",
            current_status=agreement.status,
        )
    proposer = agreement.revision_proposed_by or agreement.proposed_by
    if scope.relation != "self" and scope.caller_id in (proposer, agreement.author):
        # Otherwise a provider holding a caregiver grant would both propose and consent.
        raise Forbidden("Whoever proposed an agreement cannot accept it on the patient's behalf.")
    content: AgreementContent = agreement.revision or agreement.content
    today = _local_today(scope.patient, now)
    if content.start_on is None:
        content.start_on = today
    on_behalf_of = scope.patient_id if scope.relation == "caregiver" else None
    number = (agreement.accepted_version or 0) + 1
    version = AgreementVersion(
        agreement=agreement.pk,
        patient=agreement.patient,
        number=number,
        content=content,
        proposed_by=agreement.revision_proposed_by or agreement.proposed_by,
        accepted_by=scope.caller_id,
        on_behalf_of=on_behalf_of,
        accepted_at=now,
    )

    def put_in_force() -> tuple[Agreement, list[Agreement]]:
        version.save()
        updated = _apply(
            agreement,
            now,
            set__status="active",
            set__content=content,
            unset__revision=True,
            unset__revision_proposed_by=True,
            unset__revision_proposed_at=True,
            set__accepted_version=number,
            set__active_since=now,
            set__active_from=local_days.day_start(today, scope.patient.timezone),
            set__accepted_by=scope.caller_id,
            set__on_behalf_of=on_behalf_of,
            set__accepted_at=now,
        )
        if updated is None:
            raise _LostRace()
        return updated, _complete_overlapping(updated, scope.caller_id, now)

    try:
        updated, completed = transactions.run(
            put_in_force, warm=(Agreement._get_collection, AgreementVersion._get_collection)
        )
    except (NotUniqueError, _LostRace):
        _raise_lost_race(agreement)
    return Outcome(updated, [str(other.pk) for other in completed], [updated, *completed])


def _complete_overlapping(agreement: Agreement, by: ObjectId, now: datetime) -> list[Agreement]:
    """One active agreement per condition: the one just put in force replaces older ones."""
    if not agreement.content.conditions:
        return []
    older = Agreement.objects(
        patient=agreement.patient,
        status="active",
        pk__ne=agreement.pk,
        content__conditions__in=list(agreement.content.conditions),
        active_since__lte=agreement.active_since,
    ).only("id")
    completed = []
    for other in older:
        done = Agreement.objects(pk=other.pk, status="active").modify(
            new=True,
            inc__version=1,
            set__status="completed",
            set__ended_at=now,
            set__ended_by=by,
            set__replaced_by=agreement.pk,
            set__updated_at=now,
            unset__revision=True,
            unset__revision_proposed_by=True,
            unset__revision_proposed_at=True,
        )
        if done is not None:
            completed.append(done)
    return completed
