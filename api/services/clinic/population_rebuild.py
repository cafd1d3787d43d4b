"""Recomputing a clinic's population from the summaries, agreements and profiles.

Placing a provider in a clinic runs it (its patients grow by theirs); the tests prove the
incremental path lands on the same figures.
"""

from collections import defaultdict
from datetime import datetime

from pymongo import DeleteMany, InsertOne, UpdateOne

from api.db import find_in
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.models.clinic import Clinic
from api.models.population import ALL_CONDITIONS
from api.models.user import User
from api.services.clinic import clinics
from api.services.clinic.population import (
    USER_FIELDS,
    WRITE_BATCH,
    aggregates,
    conditions_in,
    figures_of,
    mirror_of,
    moves_between,
    profiles_collection,
    state_after,
    summary_part,
    write_moves,
)
from api.services.tracking import summary as patient_summary


def _nest(paths: dict[str, int]) -> dict:
    doc: dict = {}
    for path, n in paths.items():
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = node.get(leaf, 0) + n
    return doc


def _memberships(clinic: Clinic) -> dict:
    """Patient → how many of the clinic's providers have them on an active care team."""
    counts: dict = defaultdict(set)
    if clinic.providers:
        cursor = CareTeamMember._get_collection().find(
            {"provider": {"$in": list(clinic.providers)}, "status": "active"},
            {"patient": 1, "provider": 1},
        )
        for member in cursor:
            counts[member["patient"]].add(member["provider"])
    return {patient: len(providers) for patient, providers in counts.items()}


def rebuild(clinic_id, *, now: datetime) -> dict:
    """Recompute a clinic's members and aggregates from the summaries, agreements and
    profiles (operators; the tests prove the incremental path lands on the same figures).

    A patient whose recomputed share differs from the stored one also moves the other
    clinics they belong to, so those stay equal to their own rebuild."""
    clinic = clinics.get_clinic(clinic_id)
    cid = str(clinic.pk)
    counts = _memberships(clinic)
    ids = list(counts)
    summaries = {
        s["_id"]: s
        for s in find_in(patient_summary.summaries(), "_id", ids, {"goals": 0, "seq": 0})
    }
    users = {u["_id"]: u for u in find_in(User._get_collection(), "_id", ids, USER_FIELDS)}
    by_patient = defaultdict(list)
    for doc in find_in(
        Agreement._get_collection(),
        "patient",
        ids,
        {"patient": 1, "status": 1, "content.conditions": 1},
    ):
        if doc["status"] == "active":
            by_patient[doc["patient"]].append(doc)
    stored = {p["_id"]: p for p in find_in(profiles_collection(), "_id", ids)}
    writes, other_moves, names, totals = [], defaultdict(lambda: defaultdict(int)), {}, {}
    for patient_id in ids:
        fresh = {
            **summary_part(summaries.get(patient_id, {}), now),
            "conditions": conditions_in(by_patient[patient_id]),
            **mirror_of(users.get(patient_id, {})),
        }
        before = stored.get(patient_id)
        after = state_after(before or {"_id": patient_id}, {"$set": fresh})
        after["clinics"][cid] = counts[patient_id]
        for key, paths in moves_between(before, after, skip=cid).items():
            for path, n in paths.items():
                other_moves[key][path] += n
        names.update(after.get("gap_names") or {})
        for condition in (ALL_CONDITIONS, *after["conditions"]):
            total = totals.setdefault(condition, defaultdict(int))
            for path, n in figures_of(after).items():
                total[path] += n
        writes.append(
            UpdateOne(
                {"_id": patient_id},
                {
                    "$set": {**fresh, f"clinics.{cid}": counts[patient_id]},
                    "$addToSet": {"in_clinics": clinic.pk},
                },
                upsert=True,
            )
        )
    left = profiles_collection().find({"in_clinics": clinic.pk}, {"_id": 1})
    writes += [
        UpdateOne(
            {"_id": p["_id"]},
            {"$pull": {"in_clinics": clinic.pk}, "$unset": {f"clinics.{cid}": ""}},
        )
        for p in left
        if p["_id"] not in counts
    ]
    # In slices: one command per thousand patients stays well within any socket timeout.
    for start in range(0, len(writes), WRITE_BATCH):
        profiles_collection().bulk_write(writes[start : start + WRITE_BATCH], ordered=False)
    write_moves(other_moves, names)
    rebuilt = [DeleteMany({"clinic": clinic.pk})]
    for condition, paths in totals.items():
        doc = _nest(paths)
        gap_names = {k: names[k] for k in doc.get("gaps", {}) if k in names}
        rebuilt.append(
            InsertOne(
                {
                    "_id": f"{cid}:{condition}",
                    "clinic": clinic.pk,
                    "condition": condition,
                    **doc,
                    "gap_names": gap_names,
                }
            )
        )
    aggregates().bulk_write(rebuilt, ordered=True)
    return {"patients": len(ids), "aggregates": len(totals)}
