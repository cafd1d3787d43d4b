"""A log write (create, batch, edit, delete) and everything it sets in motion, in order.

    store the entries, their rollups and the summary (one transaction: `tracking.logs`)
      → alerts: the measure's rules open, escalate or resolve alerts (summary's open alerts)
      → panel rows, from the summary as the alerts left it
      → clinic population aggregates, when adherence figures or open alerts moved

The panel is built once and last: building it before the alerts moved the `open_alert` flag
showed the flag on the row while the `open_alert` filter missed the patient.
"""

from datetime import datetime

from api.services.alerts import engine as alerts
from api.services.clinic import panel
from api.services.flows import derived
from api.services.identity.session_memory import SessionCheck
from api.services.tracking import logs


def log_entry(
    author: logs.Author, item: dict, *, now: datetime, session: SessionCheck | None = None
) -> tuple[dict, bool, dict]:
    """One entry: (entry, created?, the patient's summary after everything moved). `session`:
    the caller's token, when the write checks it for revocation (`session_memory`)."""
    entry, created, written = logs.create(author, item, now=now, session=session)
    return entry, created, after_write(written)


def log_batch(
    author: logs.Author,
    items: list[dict],
    loader,
    *,
    now: datetime,
    session: SessionCheck | None = None,
):
    """Up to `logs.MAX_BATCH` entries: (one result per item, the summary after, or {})."""
    results, written = logs.create_batch(author, items, loader, now=now, session=session)
    return results, after_write(written) if written is not None else {}


def edit_entry(author: logs.Author, uid: str, changes: dict, *, now: datetime):
    entry, written = logs.update(author, uid, changes, now=now)
    return entry, after_write(written)


def delete_entry(author: logs.Author, uid: str, *, now: datetime) -> None:
    after_write(logs.delete(author, uid, now=now))


def after_write(written: logs.Written) -> dict:
    """What follows a stored write (replays included: a retry finishes what a failure after
    the commit left undone; every step is idempotent). Returns the summary as it ends."""
    summary = written.summary
    if not written.entries:
        return summary
    # The write's own clock: every changed entry carries it.
    alerted = alerts.evaluate(
        written.patient_id,
        written.entries,
        written.change,
        now=written.entries[0]["changed_at"],
        digest=summary.get("alert_rules"),
    )
    summary = alerted or summary
    if written.refreshed or alerted is not None:
        derived.summary_moved(written.patient_id, summary, now=written.now)
    else:
        # Only the last log moved: the population shows nothing that changed.
        panel.sync_patient(written.patient_id, summary=summary)
    return summary
