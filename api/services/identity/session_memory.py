"""A patient's own access token, checked for revocation by the logging write it authorizes.

Every authenticated request reads `revocations` once (`tokens.is_revoked`). A logged reading
is the request a patient repeats most (a meter's backlog, an afternoon of readings), and that
read is one of the few round trips it costs. The write reads the patient's summary anyway
(it allocates the entry's number); the summary carries a *sessions revision*, a fresh
ObjectId that `tokens` sets with every revocation of the patient's tokens (and that a new
summary starts with). Each process remembers, per token, the revision under which it last
found the token unrevoked. When the write sees that revision, nothing of the patient's was
revoked since and the read is skipped; otherwise the token is read for inside the write's
transaction, which a revoked token aborts, and remembered under the revision just seen.

Why this leaves no window: a revocation and the new revision are stored in one transaction
(`tokens`). A write that sees the old revision ran before the revocation, as a request a
moment earlier would have; a write that sees the new one does not recall the token and finds
the revocation when it reads. A summary erased and created again has a new revision, so nothing
remembered of the old one matches it.

Only the write can settle the check: when no write confirms it (a 422 before the write, an
error), the HTTP edge reads for the revocation before answering (`api.access`).
"""

import time
from dataclasses import dataclass, field

from bson import ObjectId

from api.errors import Unauthorized
from api.services.common.process_memory import ProcessMemory
from api.services.identity import tokens

# jti → (sessions revision, the token's expiry in epoch seconds)
_seen = ProcessMemory(size=20_000)


def _recall(jti: str) -> ObjectId | None:
    found = _seen.recall(jti)
    if found is None:
        return None
    (revision, expires), _ = found
    if time.time() >= expires:
        _seen.forget(jti)
        return None
    return revision


def forget_all() -> None:
    _seen.forget_all()


def revoked() -> Unauthorized:
    return Unauthorized("The token has been revoked.", headers={"WWW-Authenticate": "Bearer"})


@dataclass
class SessionCheck:
    """The revocation check of one request's token, made by the write of the token's own
    patient (`confirm`, inside the transaction, after the summary read)."""

    claims: dict
    recalled: ObjectId | None = None
    settled: bool = False
    _seen_revision: ObjectId | None = field(default=None, repr=False)

    @classmethod
    def of(cls, claims: dict) -> "SessionCheck":
        # The collection `confirm` may read, ready before the transaction: mongoengine builds
        # a collection's indexes at its first use in a process, which a transaction must not.
        tokens.revocations()
        return cls(claims, _recall(claims["jti"]))

    def confirm(self, patient_id, revision: ObjectId | None) -> None:
        """Inside the write, with the summary's sessions revision: raises 401 (aborting the
        transaction) when the token is revoked; reads for it unless nothing moved since the
        token was last found unrevoked."""
        own = str(patient_id) == self.claims["sub"] and revision is not None
        if not (own and revision == self.recalled) and tokens.is_revoked(self.claims):
            _seen.forget(self.claims["jti"])
            raise revoked()
        self._seen_revision = revision if own else None
        self.settled = True

    def keep(self) -> None:
        """After the write committed: remember the revision it found the token unrevoked at."""
        if self._seen_revision is not None:
            _seen.keep(self.claims["jti"], (self._seen_revision, self.claims["exp"]))

    def settle(self) -> None:
        """For a request no write confirmed: the usual read; 401 when the token is revoked."""
        if not self.settled and tokens.is_revoked(self.claims):
            _seen.forget(self.claims["jti"])
            raise revoked()
        self.settled = True
