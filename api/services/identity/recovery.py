"""Choosing a new password with a mailed code: a reset (30 minutes) or, for a provider an
admin created, the first one (a set-up code, 72 hours). Five tries per code, single use.

`request_reset` does the same work for every address (one read, one write, one mail queued);
an address without an account is told so in the mail, never in the answer.
"""

import hmac
import secrets
from datetime import datetime, timedelta

from api.errors import field_error
from api.models.account_code import AccountCode
from api.models.user import User
from api.services.common.codes import code_hash, new_short_code
from api.services.identity import account_mail, accounts, login_throttle, tokens
from api.services.identity.passwords import hash_password
from api.services.notify.outbox import enqueue_mail

RESET_CODE_VALID = timedelta(minutes=30)
SETUP_CODE_VALID = timedelta(hours=72)
MAX_TRIES = 5
INVALID_CODE = "This code is not valid, has expired or was tried too often; ask for a new one."


def _store_code(email: str, user: User | None, purpose: str, now: datetime, valid: timedelta):
    code = new_short_code() if user is not None else None
    entry = AccountCode(
        id=email,
        user=user.pk if user is not None else None,
        purpose=purpose,
        code_hash=code_hash(code) if code else None,
        created_at=now,
        expires_at=now + valid,
    )
    AccountCode._get_collection().replace_one({"_id": email}, entry.to_mongo(), upsert=True)
    return code


def request_reset(*, email: str, now: datetime) -> None:
    email = accounts.normalise_email(email)
    user = User.objects(email=email).only("id", "name").first()
    code = _store_code(email, user, "reset", now, RESET_CODE_VALID)
    if user is not None:
        subject, text = account_mail.reset_code(user.name, code, RESET_CODE_VALID)
        key = f"reset:{email}:{secrets.token_hex(8)}"
    else:
        subject, text = account_mail.reset_unknown()
        key = f"reset-unknown:{email}:{now:%Y%m%d%H}"
    enqueue_mail(key=key, to=email, subject=subject, text=text, now=now)


def confirm_reset(*, email: str, code: str, new_password: str, now: datetime) -> User:
    """Set the new password and sign the account out everywhere."""
    email = accounts.normalise_email(email)
    entry = AccountCode.objects(
        id=email, code_hash__ne=None, expires_at__gt=now, tries__lt=MAX_TRIES
    ).modify(inc__tries=1, new=True)
    if entry is None or not hmac.compare_digest(entry.code_hash, code_hash(code)):
        raise field_error("code", INVALID_CODE)
    if not AccountCode.objects(id=email, code_hash=entry.code_hash).delete():
        raise field_error("code", INVALID_CODE)
    user = User.objects(pk=entry.user, email=email).first()
    if user is None:
        raise field_error("code", INVALID_CODE)
    user.update(set__password_hash=hash_password(new_password), set__updated_at=now)
    tokens.revoke_user(user.pk, entry.purpose)
    login_throttle.succeeded(email)
    return user


def create_provider(*, email: str, name: str, specialty: str, now: datetime) -> User:
    """An admin creates the account; the provider is mailed a code to choose a password."""
    user = accounts.create_user(email=email, name=name, role="provider", specialty=specialty)
    code = _store_code(user.email, user, "setup", now, SETUP_CODE_VALID)
    subject, text = account_mail.setup_code(user.name, code, SETUP_CODE_VALID)
    enqueue_mail(
        key=f"setup:{user.email}:{secrets.token_hex(8)}",
        to=user.email,
        subject=subject,
        text=text,
        now=now,
    )
    return user
