"""Patient records a provider creates for a child: no login, on the provider's own panel."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from bson import ObjectId

from api.errors import field_error
from api.models.user import User
from api.services.care import care_team
from api.services.identity.minors import age_on

OLDEST_AGE = 130


def check_birth_date(birth_date: date, *, timezone: str, now: datetime) -> None:
    today = now.astimezone(ZoneInfo(timezone)).date()
    if birth_date > today:
        raise field_error("birth_date", "Must not be in the future.")
    if age_on(birth_date, today) >= OLDEST_AGE:
        raise field_error("birth_date", f"Must be less than {OLDEST_AGE} years ago.")


def create(
    provider_id: ObjectId, *, name: str, birth_date: date, timezone: str, now: datetime
) -> User:
    """The record and the provider's active primary membership, or neither:
    (patient, membership)."""
    check_birth_date(birth_date, timezone=timezone, now=now)
    patient = User(
        name=name.strip(),
        role="patient",
        timezone=timezone,
        birth_date=birth_date,
        created_by=provider_id,
        created_at=now,
        updated_at=now,
    )
    patient.save(force_insert=True)
    try:
        member, _ = care_team.activate(patient.pk, provider_id, "primary", now)
    except Exception:
        patient.delete()
        raise
    return patient, member
