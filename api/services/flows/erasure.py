"""A patient erasing their account, and what follows, in order.

the password confirmed (nothing is touched when it is wrong)
  → identity: every token of the account revoked, every caregiver's grant ended
  → panel bucket counts and clinic aggregates: the patient taken out while they can still be
    found (they count the patient without naming them)
  → records: everything of the patient erased by rule (`records.erasure`), and one access-log
    line saying the account was erased
"""

from datetime import datetime

from api.errors import field_error
from api.models.user import User
from api.services.clinic import panel, population
from api.services.identity import caregivers, passwords, tokens
from api.services.records import erasure


def erase_account(patient: User, *, password: str, now: datetime) -> None:
    if not passwords.verify_password(patient.password_hash, password):
        raise field_error("password", "The password is not correct.")
    tokens.revoke_user(patient.pk, "account_erased")
    caregivers.end_all_for_patient(patient.pk, now)
    panel.remove_patient(patient.pk)
    population.remove_patient(patient.pk)
    erasure.erase_records(patient.pk)
    erasure.record_erasure(patient.pk, now)
