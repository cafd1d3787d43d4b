"""The education library, the starter items, and patients' progress through assigned items.

Assignment: an agreement assigns a library item through `EducationRef.item_id` in its
content. An item counts as assigned while one of the patient's *active* agreements lists it
(free links without an `item_id` are not library items and have no progress).

When was it assigned? The first time the item is seen in an active agreement, a progress
document is written with status `new` and `assigned_at` = the acceptance time of the
agreement version in force (never later than that moment). It is seen either when the
patient's education list is read or when the jobs worker looks for stale assignments,
whichever comes first; after that `assigned_at` never changes. So an item a patient has never
opened is still found by `stale_assignments`, and the time is that of the acceptance rather
than of whoever happened to look first.
"""

import re
from contextlib import suppress
from datetime import datetime, timedelta

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api.clock import utcnow
from api.errors import Forbidden, NotFound, field_error
from api.ids import new_id
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.models.education import EducationItem, EducationProgress
from api.models.user import User
from api.services.common import markdown
from api.services.common.acting import Acting
from api.services.common.text import fold as text_fold

STARTER_AUTHOR = "CarePact editorial team"
MIN_PREFIX = 3
_WORD = re.compile(r"[a-z0-9]+")
_DUPLICATE_KEY = 11000


def normalise_condition(condition: str) -> str:
    return " ".join(condition.lower().split())


def search_words(text: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(text_fold(text))))


def keywords(title: str, summary: str) -> list[str]:
    """Every word of title and summary and its prefixes of 3+ letters ("diab" finds diabetes)."""
    found: dict[str, None] = {}
    for word in search_words(f"{title} {summary}"):
        for end in range(min(MIN_PREFIX, len(word)), len(word) + 1):
            found[word[:end]] = None
    return list(found)


def _fill(item: EducationItem, data: dict) -> EducationItem:
    item.title = data["title"]
    item.summary = data["summary"]
    item.url = data.get("url")
    item.body = data.get("body")
    item.body_html = markdown.render(item.body) if item.body else None
    item.conditions = list(dict.fromkeys(normalise_condition(c) for c in data["conditions"]))
    item.audience = data["audience"]
    item.reading_minutes = data["reading_minutes"]
    item.keywords = keywords(item.title, item.summary)
    return item


def create_item(*, data: dict, author_id, now: datetime) -> EducationItem:
    """A provider publishes an item; `data` has passed `EducationCreateSchema`."""
    author = User.objects(pk=author_id).only("name").first()
    item = EducationItem(
        id=new_id("edu"),
        author=author_id,
        author_name=author.name if author else "Unknown author",
        created_at=now,
        updated_at=now,
    )
    _fill(item, data).save(force_insert=True)
    return item


def get_item(item_id: str) -> EducationItem:
    item = EducationItem.objects(pk=item_id).first()
    if item is None:
        raise NotFound()
    return item


def _library_filter(*, condition=None, audience=None, q=None) -> dict:
    match = {}
    if audience:
        match["audience"] = audience
    if condition:
        match["conditions"] = normalise_condition(condition)
    if q is not None:
        words = search_words(q)
        if not words:
            raise field_error("q", "Search for at least one letter or digit.")
        match["keywords"] = {"$all": words}
    return match


def list_items(
    *, condition=None, audience=None, q=None, panel_conditions=None, first: int, limit: int
) -> tuple[int, list[EducationItem]]:
    """One page of the library, by title; with `panel_conditions`, matching items first.

    Ranking is one aggregation (filter, rank, sort, page) so the page is cut by the server.
    Ranked items carry `matches_panel`.
    """
    match = _library_filter(condition=condition, audience=audience, q=q)
    total = EducationItem.objects(__raw__=match).count()
    pipeline = [{"$match": match}]
    order = {"title": 1, "_id": 1}
    if panel_conditions is not None:
        overlap = {"$size": {"$setIntersection": ["$conditions", sorted(panel_conditions)]}}
        pipeline.append({"$addFields": {"_rank": {"$cond": [{"$gt": [overlap, 0]}, 0, 1]}}})
        order = {"_rank": 1, **order}
    pipeline += [{"$sort": order}, {"$skip": first}, {"$limit": limit}]
    items = []
    for raw in EducationItem._get_collection().aggregate(pipeline):
        rank = raw.pop("_rank", None)
        item = EducationItem._from_son(raw)
        if rank is not None:
            item.matches_panel = rank == 0
        items.append(item)
    return total, items


def panel_conditions(provider_id) -> set[str]:
    """Conditions of the active agreements of the provider's active patients.

    Two indexed round trips whatever the panel size: the patients from the care-team index
    (provider, status, patient), then one aggregation over agreements (status, patient).
    """
    patients = CareTeamMember.objects(provider=provider_id, status="active").distinct("patient")
    if not patients:
        return set()
    grouped = Agreement._get_collection().aggregate(
        [
            {"$match": {"status": "active", "patient": {"$in": patients}}},
            {"$unwind": "$content.conditions"},
            {"$group": {"_id": "$content.conditions"}},
        ]
    )
    return {normalise_condition(row["_id"]) for row in grouped if isinstance(row["_id"], str)}


def load_starter_library(items: list[dict], *, now: datetime | None = None) -> int:
    """Upsert the starter items (`api.schemas.shipped.starter_items()`) by their slug ids:
    running it again changes nothing new."""
    now = now or utcnow()
    operations = []
    for data in items:
        item = _fill(EducationItem(id=data["id"], author_name=STARTER_AUTHOR), data)
        fields = item.to_mongo().to_dict()
        fields.pop("_id")
        fields.pop("created_at", None)
        fields["updated_at"] = now
        operations.append(
            UpdateOne(
                {"_id": item.pk}, {"$set": fields, "$setOnInsert": {"created_at": now}}, upsert=True
            )
        )
    if operations:
        EducationItem._get_collection().bulk_write(operations, ordered=False)
    return len(operations)


# --- Assignment and progress -------------------------------------------------------------


def _assignments(patient_id=None) -> dict[tuple, datetime]:
    """{(patient id, item id): since} for the library items of active agreements, in order."""
    query = {"status": "active", "content.education.item_id": {"$type": "string"}}
    if patient_id is not None:
        query["patient"] = patient_id
    agreements = (
        Agreement.objects(__raw__=query)
        .only("patient", "content.education", "accepted_at", "active_since", "created_at")
        .order_by("-created_at")
    )
    found: dict[tuple, datetime] = {}
    for agreement in agreements:
        since = agreement.accepted_at or agreement.active_since or agreement.created_at
        for ref in agreement.content.education:
            if ref.item_id:
                found.setdefault((agreement.patient, ref.item_id), since)
    return found


def _progress_of(pairs) -> dict[tuple, EducationProgress]:
    if not pairs:
        return {}
    patients = list({patient for patient, _ in pairs})
    items = list({item for _, item in pairs})
    return {
        (p.patient, p.item): p
        for p in EducationProgress.objects(patient__in=patients, item__in=items)
    }


def _record_first_sight(missing: dict[tuple, datetime], now: datetime) -> None:
    """Insert `new` progress for assignments never seen before; a racing insert is fine."""
    if not missing:
        return
    documents = [
        InsertOne(
            {
                "patient": patient,
                "item": item,
                "status": "new",
                "assigned_at": min(since, now) if since else now,
                "created_at": now,
                "updated_at": now,
            }
        )
        for (patient, item), since in missing.items()
    ]
    try:
        EducationProgress._get_collection().bulk_write(documents, ordered=False)
    except BulkWriteError as error:
        if any(e["code"] != _DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise


def sync_assignments(assignments: dict[tuple, datetime], now: datetime):
    """Progress for every assignment, recording those seen for the first time."""
    progress = _progress_of(list(assignments))
    missing = {pair: since for pair, since in assignments.items() if pair not in progress}
    if missing:
        _record_first_sight(missing, now)
        progress = _progress_of(list(assignments))
    return progress


def _row(item: EducationItem, progress: EducationProgress) -> dict:
    return {
        "item_id": item.pk,
        "item": item,
        "status": progress.status,
        "assigned_at": progress.assigned_at,
        "viewed_at": progress.viewed_at,
        "completed_at": progress.completed_at,
    }


def patient_education(patient_id, *, now: datetime) -> list[dict]:
    """The items the patient's active agreements assign, each with its progress."""
    assignments = _assignments(patient_id)
    if not assignments:
        return []
    items = {i.pk: i for i in EducationItem.objects(pk__in=[item for _, item in assignments])}
    assigned = {pair: since for pair, since in assignments.items() if pair[1] in items}
    progress = sync_assignments(assigned, now)
    return [_row(items[item], progress[(patient, item)]) for patient, item in assigned]


def record_progress(*, scope: Acting, item_id: str, status: str, now: datetime) -> dict:
    """`viewed` or `completed`; status never moves back from completed, times keep the first.

    The patient's own record of learning: the patient or a caregiver with `log` writes it;
    the care team reads it but does not write it for them.
    """
    if scope.relation == "team":
        raise Forbidden("Education progress is recorded by the patient or their caregiver.")
    patient_id, recorded_by = scope.patient_id, scope.caller_id
    since = _assignments(patient_id).get((patient_id, item_id))
    item = EducationItem.objects(pk=item_id).first() if since is not None else None
    if item is None:
        raise NotFound("This item is not assigned to this patient.")
    key = {"patient": patient_id, "item": item_id}
    change = {
        "$set": {"status": status, "recorded_by": recorded_by, "updated_at": now},
        "$min": {"viewed_at": now},
        "$setOnInsert": {"assigned_at": min(since, now), "created_at": now},
    }
    if status == "completed":
        change["$min"]["completed_at"] = now
        match = key
    else:
        match = {**key, "status": {"$ne": "completed"}}
    # Already completed: "viewed" matches nothing, its upsert collides, and nothing changes.
    with suppress(DuplicateKeyError):
        EducationProgress._get_collection().update_one(match, change, upsert=True)
    return _row(item, EducationProgress.objects(**key).first())


def stale_assignments(now: datetime, older_than_days: int = 7) -> list[tuple]:
    """(patient id, item) for items still `new` `older_than_days` after they were assigned.

    For the jobs worker's gentle reminder; it records its own delivery (the reminder is sent
    once), this only answers who is due. Assignments never seen before are recorded first.
    """
    assignments = _assignments()
    if not assignments:
        return []
    sync_assignments(assignments, now)
    cutoff = now - timedelta(days=older_than_days)
    stale = [
        (p.patient, p.item)
        for p in EducationProgress.objects(status="new", assigned_at__lte=cutoff).only(
            "patient", "item"
        )
        if (p.patient, p.item) in assignments
    ]
    items = {i.pk: i for i in EducationItem.objects(pk__in=list({item for _, item in stale}))}
    return [(patient, items[item]) for patient, item in stale if item in items]
