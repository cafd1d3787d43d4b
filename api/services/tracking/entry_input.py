"""Checking a log entry before it is stored: who writes, its agreement, goal, time and value.

A rejected entry is a 422 naming the field; nothing here writes.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from api.errors import field_error
from api.models.agreement import Agreement, AgreementVersion
from api.models.log import LIVE
from api.models.user import User
from api.services.common import local_days
from api.services.tracking import measures
from api.services.tracking.agreement_memory import AgreementLookup
from api.services.tracking.rollups import reading_in_target

CLOCK_SKEW = timedelta(minutes=5)
IN_FORCE = ("active", "completed", "revoked")


@dataclass(frozen=True)
class Author:
    """Who writes: the patient, a caregiver for them, or a provider on the team."""

    patient_id: ObjectId
    caller_id: ObjectId
    relation: str

    @classmethod
    def of(cls, scope) -> "Author":
        return cls(scope.patient_id, scope.caller.id, scope.relation)

    def source(self, requested: str | None) -> str:
        return "provider" if self.relation == "team" else (requested or "app")

    @property
    def recorded_by(self) -> ObjectId | None:
        return None if self.relation == "self" else self.caller_id


@dataclass
class Prepared:
    """A validated entry, ready to be numbered and stored."""

    doc: dict
    goal: object


# --- validation ----------------------------------------------------------------------------


def _agreement(patient_id, agreement_id: str, agreements: AgreementLookup) -> Agreement:
    agreement = agreements.get(patient_id, agreement_id)
    if agreement is None:
        raise field_error("agreement_id", "No agreement with this id.")
    if agreement.status not in IN_FORCE or agreement.active_since is None:
        raise field_error("agreement_id", f"This agreement is {agreement.status}, not active.")
    return agreement


def find_goal(agreement: Agreement, goal_id: str):
    """The goal in the agreement's current content, or in an earlier accepted version."""
    goal = agreement.goal(goal_id)
    if goal is not None:
        return goal
    for version in AgreementVersion.objects(agreement=agreement.pk).order_by("-number"):
        goal = next((g for g in version.content.goals if g.id == goal_id), None)
        if goal is not None:
            return goal
    raise field_error("goal_id", "This agreement has no goal with this id.")


def loggable_from(agreement: Agreement) -> datetime:
    """The start of the patient's local day on which the agreement became active: a plan
    accepted in the evening takes the morning's walk."""
    if agreement.active_from is not None:
        return agreement.active_from
    # Accepted before `active_from` was stored: the patient's zone today stands in.
    user = User.objects(pk=agreement.patient).only("timezone").first()
    tz = user.timezone if user else None
    return local_days.day_start(local_days.local_date(agreement.active_since, tz), tz)


def _check_time(agreement: Agreement, occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + CLOCK_SKEW:
        raise field_error("occurred_at", "Must not be in the future.")
    if occurred_at < loggable_from(agreement):
        raise field_error(
            "occurred_at", "Must not be before the day the agreement started (your local day)."
        )
    if agreement.ended_at is not None and occurred_at >= agreement.ended_at:
        raise field_error("occurred_at", "Must not be after the agreement ended.")


def _canonical(measure, goal, value: float, unit: str | None) -> tuple[float, str]:
    unit = unit or goal.unit
    try:
        canonical = measures.to_canonical(measure, value, unit)
    except measures.UnknownUnit as error:
        raise field_error("unit", str(error)) from None
    low, high = measure.entry_range
    if not low <= canonical <= high:
        shown = [round(measures.from_canonical(measure, v, unit), 2) for v in (low, high)]
        raise field_error(
            "value", f"Must be between {shown[0]:g} and {shown[1]:g} {unit} for {measure.name}."
        )
    return canonical, unit


def _body_hash(fields: dict) -> str:
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare(item: dict, *, author: Author, agreements: AgreementLookup, now: datetime) -> Prepared:
    """Validate one entry against its agreement and goal; raise 422 naming the field."""
    agreement = _agreement(author.patient_id, item["agreement_id"], agreements)
    goal = find_goal(agreement, item["goal_id"])
    occurred_at = item["occurred_at"]
    _check_time(agreement, occurred_at, now)
    measure = measures.get(goal.measure)
    value, unit = _canonical(measure, goal, item["value"], item.get("unit"))
    source = author.source(item.get("source"))
    note = item.get("note")
    body = {
        "agreement_id": item["agreement_id"],
        "goal_id": goal.id,
        "occurred_at": occurred_at.isoformat(timespec="milliseconds"),
        "value": item["value"],
        "unit": unit,
        "note": note,
        "source": source,
    }
    doc = {
        "patient": author.patient_id,
        "uid": str(item.get("id") or uuid.uuid4()),
        "state": LIVE,
        "agreement": agreement.pk,
        "goal_id": goal.id,
        "measure": measure.name,
        "occurred_at": occurred_at,
        "value": value,
        "entered_value": item["value"],
        "entered_unit": unit,
        "in_target": reading_in_target(goal, measure, value),
        "note": note,
        "source": source,
        "recorded_by": author.recorded_by,
        "body_hash": _body_hash(body),
        "history": [],
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
    }
    return Prepared(doc, goal)
