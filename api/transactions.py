"""Multi-document transactions for writes that span documents (a batch of log entries with
their rollups, an accepted agreement with its version): all of it is stored, or none.

The session is bound (pymongo's `ClientSession.bind`), so every pymongo and mongoengine call
inside the block joins the transaction without being passed a session. MongoDB replica sets
(production) and the embedded SecantusDB server both support transactions.

Inside a transaction a write error (a duplicate key too) aborts the whole transaction, so
code that expects a duplicate key must find out before it writes, not catch it after.
"""

import random
import time
from collections.abc import Callable
from typing import TypeVar

from mongoengine.errors import OperationError
from pymongo.errors import PyMongoError

from api import db, session_ledger

T = TypeVar("T")
# Writers of one patient's data conflict on its summary; the loser retries at once (the
# conflict comes at the transaction's first write, so a retry costs little) for this long.
RETRY_FOR_S = 3.0
BACKOFF_S = 0.01


def run(work: Callable[[], T], *, warm: tuple[Callable, ...] = ()) -> T:
    """`work()` inside one transaction, committed when it returns, aborted when it raises.

    A transient conflict (two writers touching one document; the server aborts the loser)
    is retried with jittered backoff for up to RETRY_FOR_S; any other error, and a commit of
    unknown outcome, propagates (the API answers 503 and the client's retry is idempotent).
    `warm` are collection getters called first: mongoengine creates a collection's indexes
    on first use, which a transaction must not do.
    """
    for getter in warm:
        getter()
    client = db.database().client
    uri = db.connected_uri()
    deadline = time.monotonic() + RETRY_FOR_S
    attempt = 0
    while True:
        with client.start_session() as session, session.bind(end_session=False):
            session_ledger.note(uri, session.session_id)
            try:
                with session.start_transaction():
                    return work()
            except (PyMongoError, OperationError) as error:
                # mongoengine wraps the driver's error (with its labels) in its own class.
                cause = error if isinstance(error, PyMongoError) else error.__context__
                transient = isinstance(cause, PyMongoError) and cause.has_error_label(
                    "TransientTransactionError"
                )
                if not transient or time.monotonic() > deadline:
                    raise
        attempt += 1
        # Jitter (not security): spreads the retries of writers that conflicted together.
        time.sleep(BACKOFF_S * min(attempt, 10) * random.random())  # noqa: S311  # nosec B311
