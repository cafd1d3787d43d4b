"""A clinic's population: aggregates kept current as patients change.

What moves the aggregates (called by the flows in `api.services.flows`, so no request pays
more than a write or two):
  - a care-team membership starting or ending with one of a clinic's providers
    (`membership_changed`): the patient joins or leaves the clinic when the number of its
    providers they have reaches or leaves zero, so a shared patient counts once;
  - the summary's 30-day adherence, open alerts or check-up schedule being rewritten, and an
    agreement becoming active or ending (the conditions): `follow`;
  - a provider placed in a clinic: the clinic is rebuilt (`rebuild`).
Each is one atomic swap of the patient's `PopulationProfile` returning the state before; the
aggregates of the clinics they belong to move by the difference (`$inc`, one bulk write, none
when nothing the aggregates show changed). `population_rebuild` recomputes a clinic from the
summaries; `population_view` reads the aggregates.
"""

import re
from collections import defaultdict
from datetime import date, datetime

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from api.models.agreement import Agreement
from api.models.clinic import Clinic
from api.models.population import (
    ALL_CONDITIONS,
    BUCKET_WIDTH,
    BUCKETS,
    PopulationAggregate,
    PopulationProfile,
    PopulationSnapshot,
)
from api.models.user import User
from api.services.care.education import normalise_condition
from api.services.common import local_days
from api.services.tracking import summary as patient_summary

SUPPRESS_BELOW = 11
SUPPRESSED = "<11"
SUPPRESSED_FIGURE = "suppressed"
TREND_DAYS = 30
WRITE_BATCH = 1000
_SLUG = re.compile(r"[^a-z0-9]+")


def profiles_collection():
    return PopulationProfile._get_collection()


def aggregates():
    return PopulationAggregate._get_collection()


def snapshots():
    return PopulationSnapshot._get_collection()


# --- what one patient adds ----------------------------------------------------------------


def gap_key(name: str) -> str:
    """A check-up's key across patients and agreements: its name as a slug ("hba1c")."""
    return _SLUG.sub("-", name.lower()).strip("-")[:80] or "checkup"


def bucket_of(percent: float | None) -> int | None:
    if percent is None:
        return None
    return min(max(int(percent // BUCKET_WIDTH), 0), BUCKETS - 1)


def summary_part(summary: dict, now: datetime) -> dict:
    """The fields a patient's summary gives: 30-day adherence, open alerts, check-up gaps.

    A check-up is a gap ("overdue") once its next due date has passed in the patient's day,
    the rule the check-ups feature applies; the due dates come from the summary's schedule.
    """
    percent = summary.get("adherence_30d")
    today = local_days.today(now, summary.get("tz"))
    gaps, names = {}, {}
    for checkup in summary.get("checkups_due") or []:
        key = gap_key(checkup["name"])
        overdue = date.fromisoformat(checkup["due_on"]) < today
        gaps[key] = gaps.get(key, False) or overdue
        names[key] = checkup["name"]
    alerts = {s: n for s, n in (summary.get("open_alerts") or {}).items() if n and n > 0}
    flags = summary.get("flags")
    flags = flags if isinstance(flags, dict) else {}
    return {
        "adherence_30d": percent,
        "bucket": bucket_of(percent),
        "gaps": gaps,
        "gap_names": names,
        "alerts": alerts,
        "cgm": [
            name
            for name in patient_summary.CGM_FLAGS
            if isinstance(flags, dict) and flags.get(name)
        ],
    }


def conditions_of(patient_id) -> list[str]:
    found = Agreement._get_collection().find(
        {"patient": patient_id, "status": "active"}, {"content.conditions": 1}
    )
    return conditions_in(list(found))


def conditions_in(agreement_docs) -> list[str]:
    names = {
        normalise_condition(c)
        for doc in agreement_docs
        for c in (doc.get("content") or {}).get("conditions") or []
        if isinstance(c, str) and c.strip()
    }
    return sorted(names)


def mirror_of(user: dict) -> dict:
    """The profile fields outreach delivery needs, copied so it reads one collection."""
    birth = user.get("birth_date")
    return {
        "name": user.get("name"),
        "tz": user.get("timezone") or "UTC",
        "quiet_hours": user.get("quiet_hours"),
        "opt_out": bool(user.get("outreach_opt_out")),
        "birth_date": birth.date().isoformat() if isinstance(birth, datetime) else birth,
    }


USER_FIELDS = {
    "name": 1,
    "timezone": 1,
    "quiet_hours": 1,
    "outreach_opt_out": 1,
    "birth_date": 1,
}


def fresh_state(patient_id, now: datetime) -> dict:
    """Everything a patient adds, read from the sources (joining a clinic)."""
    summary = patient_summary.summaries().find_one({"_id": patient_id}) or {}
    user = User._get_collection().find_one({"_id": patient_id}, USER_FIELDS) or {}
    return {
        **summary_part(summary, now),
        "conditions": conditions_of(patient_id),
        **mirror_of(user),
    }


# --- moving the aggregates ----------------------------------------------------------------


def _member_of(state: dict | None) -> list[str]:
    return [cid for cid, n in ((state or {}).get("clinics") or {}).items() if n and n > 0]


def figures_of(state: dict) -> dict[str, int]:
    """One patient's share of an aggregate document, as `$inc` paths."""
    inc = {"patients": 1}
    bucket = state.get("bucket")
    if bucket is None:
        inc["no_adherence"] = 1
    else:
        inc[f"hist.{bucket}"] = 1
    for key, overdue in (state.get("gaps") or {}).items():
        inc[f"gaps.{key}.eligible"] = 1
        if overdue:
            inc[f"gaps.{key}.overdue"] = 1
    for severity, n in (state.get("alerts") or {}).items():
        if n:
            inc[f"alerts.{severity}"] = n
    for flag in state.get("cgm") or []:
        inc[f"cgm.{flag}"] = 1
    return inc


def moves_between(before: dict | None, after: dict | None, *, skip: str | None = None) -> dict:
    """(clinic, condition) → {path: delta} taking the aggregates from `before` to `after`."""
    moves: dict = defaultdict(lambda: defaultdict(int))
    for state, sign in ((before, -1), (after, 1)):
        if not state:
            continue
        paths = figures_of(state)
        for clinic in _member_of(state):
            if clinic == skip:
                continue
            for condition in (ALL_CONDITIONS, *(state.get("conditions") or [])):
                for path, n in paths.items():
                    moves[(clinic, condition)][path] += sign * n
    return moves


def write_moves(moves: dict, names: dict) -> None:
    requests = []
    for (clinic, condition), paths in moves.items():
        inc = {path: n for path, n in paths.items() if n}
        if not inc:
            continue
        update = {
            "$inc": inc,
            "$setOnInsert": {"clinic": ObjectId(clinic), "condition": condition},
        }
        named = {f"gap_names.{k}": v for k, v in names.items() if f"gaps.{k}.eligible" in inc}
        if named:
            update["$set"] = named
        requests.append(UpdateOne({"_id": f"{clinic}:{condition}"}, update, upsert=True))
    if requests:
        aggregates().bulk_write(requests, ordered=False)


def state_after(before: dict, update: dict) -> dict:
    """The profile as `update` left it (the updates here: `$set` of whole fields and
    `$inc` of `clinics.<id>`)."""
    after = {**before, **update.get("$set", {})}
    counts = dict(before.get("clinics") or {})
    for path, n in update.get("$inc", {}).items():
        clinic = path.split(".", 1)[1]
        counts[clinic] = counts.get(clinic, 0) + n
    after["clinics"] = counts
    return after


def _swap(patient_id, update: dict, *, now: datetime, upsert: bool = False) -> dict | None:
    """Apply `update` to the patient's profile atomically and move the aggregates by the
    difference. Without `upsert`, a patient never seen in a clinic costs one read."""
    before = profiles_collection().find_one_and_update(
        {"_id": patient_id}, update, upsert=upsert, return_document=ReturnDocument.BEFORE
    )
    if before is None and not upsert:
        return None
    before = before or {"_id": patient_id}
    after = state_after(before, update)
    write_moves(moves_between(before, after), after.get("gap_names") or {})
    _record_closures(patient_id, before, after, now)
    return after


def _record_closures(patient_id, before: dict, after: dict, now: datetime) -> None:
    """A gap closed (overdue, then not) is stamped: campaigns count the gaps they closed."""
    was, now_gaps = before.get("gaps") or {}, after.get("gaps") or {}
    closed = [k for k, overdue in was.items() if overdue and now_gaps.get(k) is False]
    if closed:
        profiles_collection().update_one(
            {"_id": patient_id}, {"$set": {f"closed.{k}": now for k in closed}}
        )


def join(patient_id, clinic_id, *, now: datetime) -> None:
    """One more of the clinic's providers has the patient; the first brings them in."""
    cid = str(clinic_id)
    update = {
        "$set": fresh_state(patient_id, now),
        "$inc": {f"clinics.{cid}": 1},
        "$addToSet": {"in_clinics": ObjectId(cid)},
    }
    _swap(patient_id, update, now=now, upsert=True)


def leave(patient_id, clinic_id, *, now: datetime) -> None:
    cid = str(clinic_id)
    after = _swap(patient_id, {"$inc": {f"clinics.{cid}": -1}}, now=now)
    if after is not None and after["clinics"].get(cid, 0) <= 0:
        # Only if no provider brought them back meanwhile.
        profiles_collection().update_one(
            {"_id": patient_id, f"clinics.{cid}": {"$lte": 0}},
            {"$pull": {"in_clinics": ObjectId(cid)}, "$unset": {f"clinics.{cid}": ""}},
        )


def remove_patient(patient_id) -> None:
    """Take an erased patient out of every clinic's figures, and drop their profile."""
    before = profiles_collection().find_one_and_delete({"_id": patient_id})
    if before is not None:
        write_moves(moves_between(before, None), {})


# --- following the patient ----------------------------------------------------------------


def membership_changed(member, *, now: datetime) -> None:
    """A membership with one of a clinic's providers started or ended: the patient joins or
    leaves each of that provider's clinics (counted once however many providers they have)."""
    if member.status == "active":
        move = join
    elif member.status == "ended" and member.activated_at is not None:
        move = leave
    else:
        return
    for clinic in Clinic._get_collection().find({"providers": member.provider}, {"_id": 1}):
        move(member.patient, clinic["_id"], now=now)


def follow(
    patient_id,
    *,
    now: datetime,
    summary: dict | None = None,
    conditions: list[str] | None = None,
) -> None:
    """The patient's summary (30-day adherence, open alerts, check-up gaps) and, when given,
    their active agreements' `conditions` moved: one swap for both."""
    fields = {}
    if summary is not None:
        fields.update(summary_part(summary, now))
    if conditions is not None:
        fields["conditions"] = conditions
    if fields:
        _swap(patient_id, {"$set": fields}, now=now)


def profile_changed(user) -> None:
    """The profile fields outreach reads (name, zone, quiet hours, opt-out, birth date)."""
    if user.role == "patient":
        doc = user.to_mongo().to_dict()
        profiles_collection().update_one({"_id": user.pk}, {"$set": mirror_of(doc)})


# --- cohorts (campaigns) ------------------------------------------------------------------


def members_filter(clinic_id) -> dict:
    """The clinic's patients among the profiles (by the `in_clinics` index)."""
    return {"in_clinics": clinic_id, f"clinics.{clinic_id}": {"$gt": 0}}
