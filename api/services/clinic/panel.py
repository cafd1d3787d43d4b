"""The provider panel: each active patient's adherence, last log, check-ups, flags and
unread messages; filtered by a flag, sorted by adherence or last log, a page at a time.

Nothing here reads log entries or computes adherence: the per-patient summary holds the
figures, and `panel_rows` (see api/models/panel.py) holds, per (provider, patient, view), the
keys the panel sorts on. A page costs the same few reads whether the provider has 20 patients
or 2,000: the bucket counts of the sort key, the rows of the buckets that hold the page, and
the summaries, names and unread counts of the patients on it.
"""

from collections import defaultdict
from datetime import date, datetime

from pymongo import DeleteOne, ReplaceOne, UpdateOne

from api.models.care_team import CareTeamMember
from api.models.message import MessageThread
from api.models.panel import FLAGS, SORTS, TRIAGE_VIEWS, PanelCount, PanelRow
from api.models.user import User
from api.services.common import local_days
from api.services.tracking import summary as patient_summary

NO_ADHERENCE = "~~~~"  # after every figure: patients without one come last in ascending order
NEVER_LOGGED = "0000-00-00"  # before every day: never logged comes first in ascending order
SHARDS = 16
# Past every character a key uses, so "<bucket>|" + this ends a bucket's range.
KEY_END = "~"


def rows():
    return PanelRow._get_collection()


def counts():
    return PanelCount._get_collection()


# --- keys ----------------------------------------------------------------------------------


def _adherence_value(percent: float | None) -> str:
    return NO_ADHERENCE if percent is None else f"{round(percent * 10):04d}"


def _shard(patient_id) -> str:
    """Spreads patients with equal figures over buckets, so a page never has to read a
    thousand tied rows (everyone at 100 %)."""
    return f"{int(str(patient_id)[-4:], 16) % SHARDS:x}"


def buckets_of(summary: dict, patient_id) -> dict[str, str]:
    """The bucket of each sort key for a patient's summary: "<value>|<shard>"."""
    last = summary.get("last_logged_at")
    last_day = local_days.local_date(last, summary.get("tz")).isoformat() if last else None
    shard = _shard(patient_id)
    return {
        "adherence_7d": f"{_adherence_value(summary.get('adherence_7d'))}|{shard}",
        "adherence_30d": f"{_adherence_value(summary.get('adherence_30d'))}|{shard}",
        "last_log": f"{last_day or NEVER_LOGGED}|{shard}",
    }


def views_of(summary: dict) -> list[str]:
    flags = summary.get("flags") or {}
    raised = flags if isinstance(flags, list) else [name for name, on in flags.items() if on]
    views = ["all", *(view for view in FLAGS if view in raised)]
    return views + [view for view in TRIAGE_VIEWS if _in_triage_view(view, summary, views, raised)]


def _in_triage_view(view: str, summary: dict, flagged: list[str], raised) -> bool:
    alerts = summary.get("open_alerts") or {}
    if view == "urgent_alert":
        return (alerts.get("urgent") or 0) > 0
    if view == "warning_alert":
        return (alerts.get("warning") or 0) > 0
    if view == "no_data_7d":
        return view in raised
    return len(flagged) == 1 and summary.get("adherence_7d") is not None


def flags_of(summary: dict) -> list[str]:
    return [view for view in views_of(summary) if view in FLAGS]


def _row(provider, patient_id, view: str, buckets: dict) -> dict:
    prefix = f"{provider}:{view}:"
    return {
        "_id": f"{prefix}{patient_id}",
        "provider": provider,
        "patient": patient_id,
        "view": view,
        **{sort: f"{prefix}{bucket}|{patient_id}" for sort, bucket in buckets.items()},
    }


def _bucket(row: dict, sort: str) -> str:
    """The "<value>|<shard>" part of a row's key."""
    return row[sort].split(":", 2)[2].rsplit("|", 1)[0]


# --- keeping rows current ------------------------------------------------------------------


def panel_key(summary: dict, patient_id) -> str:
    """What a patient's rows are built from: equal keys, equal rows (for the same team)."""
    buckets = buckets_of(summary, patient_id)
    return ",".join([*views_of(summary), *(buckets[sort] for sort in SORTS)])


def sync_patient(patient_id, *, providers=None, summary: dict | None = None) -> None:
    """Bring a patient's panel rows in line with the summary (and, when `providers` is
    given, with those active providers). Writes only what changed.

    The summary remembers the `panel_key` its rows were last built from, so a log entry that
    leaves the keys as they were (the common case: the same day, the same figures) costs
    nothing here."""
    if summary is None:
        summary = patient_summary.summaries().find_one(
            {"_id": patient_id}, patient_summary.SUMMARY_FIELDS
        )
        summary = summary or {}
    key = panel_key(summary, patient_id)
    if providers is None and summary.get("panel_key") == key:
        return
    existing = {row["_id"]: row for row in rows().find({"patient": patient_id})}
    if providers is None:
        providers = {row["provider"] for row in existing.values()}
    buckets = buckets_of(summary, patient_id)
    wanted = {
        row["_id"]: row
        for provider in providers
        for view in views_of(summary)
        for row in [_row(provider, patient_id, view, buckets)]
    }
    writes, moves = [], defaultdict(lambda: defaultdict(int))
    for row_id, row in existing.items():
        if wanted.get(row_id) != row:
            _count(moves, row, -1)
            if row_id not in wanted:
                writes.append(DeleteOne({"_id": row_id}))
    for row_id, row in wanted.items():
        if existing.get(row_id) != row:
            _count(moves, row, 1)
            writes.append(ReplaceOne({"_id": row_id}, row, upsert=True))
    if writes:
        rows().bulk_write(writes, ordered=False)
    changes = [
        UpdateOne(
            {"_id": count_id},
            {"$inc": {f"buckets.{b}": n for b, n in by.items() if n}},
            upsert=True,
        )
        for count_id, by in moves.items()
        if any(by.values())
    ]
    if changes:
        counts().bulk_write(changes, ordered=False)
    patient_summary.set_panel_key(patient_id, key)


def _count(moves, row: dict, n: int) -> None:
    for sort in SORTS:
        moves[f"{row['provider']}:{row['view']}:{sort}"][_bucket(row, sort)] += n


def active_providers(patient_id) -> set:
    return {
        m["provider"]
        for m in CareTeamMember._get_collection().find(
            {"patient": patient_id, "status": "active"}, {"provider": 1}
        )
    }


def remove_patient(patient_id) -> None:
    """Take a patient off every panel, bucket counts included (erasure)."""
    sync_patient(patient_id, providers=set())


# --- reading a page ------------------------------------------------------------------------


def _locate(buckets: dict, first: int, size: int, descending: bool):
    """(lowest bucket, highest bucket, rows to skip) holding rows [first, first + size)."""
    ordered = sorted((b, n) for b, n in buckets.items() if n > 0)
    if descending:
        ordered.reverse()
    start, held = 0, []
    for bucket, n in ordered:
        if start + n > first and start < first + size:
            if not held:
                skip = first - start
            held.append(bucket)
        start += n
    if not held:
        return None
    return min(held), max(held), skip


def page(provider_id, *, view: str, sort: str, descending: bool, first: int, size: int):
    """(total, rows of the page in order): the provider's active patients in that view."""
    doc = counts().find_one({"_id": f"{provider_id}:{view}:{sort}"}) or {}
    buckets = doc.get("buckets") or {}
    total = sum(n for n in buckets.values() if n > 0)
    located = _locate(buckets, first, size, descending)
    if located is None:
        return total, []
    low, high, skip = located
    prefix = f"{provider_id}:{view}:"
    cursor = rows().find(
        {sort: {"$gte": f"{prefix}{low}|", "$lt": f"{prefix}{high}|{KEY_END}"}},
        {"patient": 1},
        sort=[(sort, -1 if descending else 1)],
    )
    return total, list(cursor)[skip : skip + size]


def _checkups(summary: dict, today: date) -> tuple[dict | None, list[dict]]:
    """The next check-up not yet past, and those past their date, in the patient's day."""
    schedule = sorted(
        (
            {**c, "due_on": date.fromisoformat(c["due_on"])}
            for c in summary.get("checkups_due") or []
        ),
        key=lambda c: c["due_on"],
    )
    overdue = [c for c in schedule if c["due_on"] < today]
    upcoming = [c for c in schedule if c["due_on"] >= today]
    return (upcoming[0] if upcoming else None), overdue


def present(provider_id, page_rows: list[dict], now: datetime) -> list[dict]:
    """The panel entries of a page, from summaries, names and threads (three reads)."""
    ids = [row["patient"] for row in page_rows]
    summaries = {s["_id"]: s for s in patient_summary.summaries().find({"_id": {"$in": ids}})}
    names = {
        u["_id"]: u
        for u in User._get_collection().find({"_id": {"$in": ids}}, {"name": 1, "birth_date": 1})
    }
    threads = {
        t["_id"]: t
        for t in MessageThread._get_collection().find({"_id": {"$in": ids}}, {"unread": 1})
    }
    entries = []
    for patient_id in ids:
        summary = summaries.get(patient_id, {})
        today = local_days.today(now, summary.get("tz"))
        next_checkup, overdue = _checkups(summary, today)
        unread = (threads.get(patient_id) or {}).get("unread") or {}
        entries.append(
            {
                "patient": {
                    "id": str(patient_id),
                    "name": (names.get(patient_id) or {}).get("name"),
                },
                "adherence_7d": summary.get("adherence_7d"),
                "adherence_30d": summary.get("adherence_30d"),
                "last_logged_at": summary.get("last_logged_at"),
                "next_checkup": next_checkup,
                "overdue_checkups": overdue,
                "next_checkup_due_on": next_checkup and next_checkup["due_on"],
                "flags": flags_of(summary),
                "open_alerts": {k: n for k, n in (summary.get("open_alerts") or {}).items() if n},
                "last_reviewed": reviewed_of(summary),
                "birth_date": (names.get(patient_id) or {}).get("birth_date"),
                "unread_messages": unread.get(str(provider_id), 0),
            }
        )
    return entries


def reviewed_of(summary: dict) -> dict | None:
    if not summary.get("reviewed_at"):
        return None
    return {
        "reviewed_at": summary["reviewed_at"],
        "reviewed_by": {
            "id": str(summary.get("reviewed_by")),
            "name": summary.get("reviewed_by_name"),
        },
    }


def mark_reviewed(patient_id, *, provider, now: datetime) -> dict:
    """A provider on the team looked at the patient's record now; the panel shows it.
    The reviewer's name is kept with it, so a page of the panel reads no provider."""
    fields = {"reviewed_at": now, "reviewed_by": provider.pk, "reviewed_by_name": provider.name}
    patient_summary.mark_reviewed(patient_id, fields)
    return reviewed_of(fields)
