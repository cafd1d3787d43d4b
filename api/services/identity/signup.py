"""Patient sign-up with a mailed code; the answer never tells whether an address is taken.

`register` always ends the same way for the caller (202), after the same work: one argon2
hash, one read, one write, one mail queued. A new address gets a six-digit code (24 hours,
five tries); an address with an account gets a notice instead (at most one an hour). The
account exists only once `verify_email` has checked the code.
"""

import hmac
import secrets
from datetime import datetime, timedelta

from api.errors import Conflict, ValidationFailed, field_error
from api.models.account_code import Registration
from api.models.care_team import CareTeamMember
from api.models.user import User
from api.services.care import care_team
from api.services.common.codes import code_hash, new_short_code
from api.services.identity import account_mail, accounts
from api.services.identity.passwords import hash_password
from api.services.notify.outbox import enqueue_mail

SIGNUP_CODE_VALID = timedelta(hours=24)
MAX_TRIES = 5
INVALID_CODE = "This code is not valid, has expired or was tried too often; sign up again."


def register(
    *,
    email: str,
    password: str,
    name: str,
    now: datetime,
    timezone: str = "UTC",
    invite_code: str | None = None,
) -> None:
    """Cheap checks (the schema, the invite code) come first; only then the hash."""
    email = accounts.normalise_email(email)
    if invite_code:
        care_team.check_invitation(invite_code, now)
    password_hash = hash_password(password)
    user = User.objects(email=email).only("id").first()
    if user is not None:
        User.objects(pk=user.pk).update_one(set__signup_attempted_at=now)
        subject, text = account_mail.signup_notice()
        key = f"signup-notice:{email}:{now:%Y%m%d%H}"
    else:
        code = new_short_code()
        Registration._get_collection().replace_one(
            {"_id": email},
            Registration(
                id=email,
                password_hash=password_hash,
                name=name.strip(),
                timezone=timezone,
                invite_code=invite_code,
                code_hash=code_hash(code),
                created_at=now,
                expires_at=now + SIGNUP_CODE_VALID,
            ).to_mongo(),
            upsert=True,
        )
        subject, text = account_mail.signup_code(name.strip(), code, SIGNUP_CODE_VALID)
        key = f"signup:{email}:{secrets.token_hex(8)}"
    enqueue_mail(key=key, to=email, subject=subject, text=text, now=now)


def pending(email: str) -> Registration | None:
    """The sign-up waiting for this address's code, if any (login says which step is left)."""
    return Registration.objects(id=accounts.normalise_email(email)).first()


def verify_email(*, email: str, code: str, now: datetime) -> tuple[User, CareTeamMember | None]:
    """Create the account once the mailed code checks out: (user, the care-team membership
    its invite code started, or None)."""
    email = accounts.normalise_email(email)
    registration = Registration.objects(
        id=email, code_hash__ne=None, expires_at__gt=now, tries__lt=MAX_TRIES
    ).modify(inc__tries=1, new=True)
    if registration is None or not hmac.compare_digest(registration.code_hash, code_hash(code)):
        raise field_error("code", INVALID_CODE)
    # Single use: of two requests with the right code, one deletes it and the other fails.
    if not Registration.objects(id=email, code_hash=registration.code_hash).delete():
        raise field_error("code", INVALID_CODE)
    try:
        user = accounts.create_user(
            email=email,
            password_hash=registration.password_hash,
            name=registration.name,
            role="patient",
            timezone=registration.timezone,
        )
    except Conflict:
        raise field_error("code", INVALID_CODE) from None
    joined = None
    if registration.invite_code:
        try:
            member, changed = care_team.join_with_code(user, registration.invite_code, now)
            joined = member if changed else None
        except ValidationFailed:
            pass  # used up meanwhile: the account stands, the patient asks for a new code
    return user, joined
