"""Outreach campaigns: choosing a cohort, delivering once to each patient, and the outcomes.

The cohort is read from the population profiles (one indexed cursor over the clinic's
patients), never from logs. Delivery costs about what the reminders' floor costs: one read
of the campaign, one cursor over the clinic's profiles (opt-out, time zone and quiet hours are
copied there), one `insert_many` of inbox notifications and one write closing the round.
Which targets have devices is looked up when the campaign is created, as reminders look it
up when they are planned, so delivery does not pay a lookup per patient.
"""

import os
from datetime import date, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from api.db import find_in
from api.errors import NotFound, ValidationFailed, field_error
from api.models.campaign import MAX_TARGETS, Campaign, Cohort, Message
from api.models.education import EducationItem, EducationProgress
from api.models.notification import Device, Notification
from api.services.care.education import normalise_condition
from api.services.clinic import population, population_view
from api.services.notify import delivery
from api.services.reminders import dispatch
from api.services.reminders.planning import quiet_until

LEASE = timedelta(minutes=5)
GAP_WINDOW = timedelta(days=30)
MAX_CAMPAIGNS_PER_TICK = 50
# Fewer patients than this are read by id; more, by one cursor over the clinic's profiles.
READ_BY_ID_BELOW = 200
# Inbox documents per insert: a busy server answers each well within the socket timeout.
INSERT_CHUNK = 2000
_DELIVERY_FIELDS = {"clinics": 1, "name": 1, "tz": 1, "quiet_hours": 1, "opt_out": 1}


def campaigns():
    return Campaign._get_collection()


# --- the cohort ---------------------------------------------------------------------------


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def cohort_filter(clinic, cohort: dict, *, today: date) -> dict:
    """The clinic's patients matching every filter given, except those who opted out."""
    query = {**population.members_filter(clinic.pk), "opt_out": {"$ne": True}}
    if cohort.get("condition"):
        query["conditions"] = cohort["condition"]
    if cohort.get("care_gap"):
        query[f"gaps.{cohort['care_gap']}"] = True
    if cohort.get("adherence_below") is not None:
        query["adherence_30d"] = {"$lt": cohort["adherence_below"]}
    born = {}
    if cohort.get("age_min") is not None:
        born["$lte"] = _years_before(today, cohort["age_min"]).isoformat()
    if cohort.get("age_max") is not None:
        born["$gt"] = _years_before(today, cohort["age_max"] + 1).isoformat()
    if born:
        query["birth_date"] = born
    return query


def _check_cohort(clinic, cohort: dict) -> dict:
    """Normalise the condition; refuse a condition or care gap the clinic cannot have."""
    cohort = dict(cohort)
    docs = {doc["condition"]: doc for doc in population.aggregates().find({"clinic": clinic.pk})}
    errors = {}
    if cohort.get("condition"):
        cohort["condition"] = normalise_condition(cohort["condition"])
        if not population_view.known_condition(docs, cohort["condition"]):
            errors["cohort.condition"] = ["No patient or template has this condition."]
    if cohort.get("care_gap"):
        known = set()
        for doc in docs.values():
            known |= set(doc.get("gap_names") or {})
        if cohort["care_gap"] not in known:
            errors["cohort.care_gap"] = [
                "No check-up with this key among the clinic's patients (see `care_gaps` of "
                "the population view)."
            ]
    if errors:
        raise ValidationFailed(errors)
    return cohort


def _education_item(item_id: str | None) -> EducationItem | None:
    if item_id is None:
        return None
    item = EducationItem.objects(pk=item_id, audience="patient").only("title").first()
    if item is None:
        raise field_error("education_item_id", "No patient education item with this id.")
    return item


def select(clinic, cohort: dict, *, now: datetime) -> list[dict]:
    """The cohort's profiles (id and gaps), at most MAX_TARGETS."""
    query = cohort_filter(clinic, cohort, today=now.date())
    found = list(population.profiles_collection().find(query, {"gaps": 1}).limit(MAX_TARGETS))
    return sorted(found, key=lambda p: p["_id"])


def create(*, clinic, data: dict, created_by, now: datetime, dry_run: bool = False):
    """A campaign, or with `dry_run` only `{"cohort_size"}` (nothing stored)."""
    send_at = data.get("send_at") or now
    if send_at < now:
        raise field_error("send_at", "Must not be in the past.")
    cohort = _check_cohort(clinic, data["cohort"])
    item = _education_item(data.get("education_item_id"))
    chosen = select(clinic, cohort, now=now)
    if dry_run:
        return {"cohort_size": len(chosen)}
    targets = [p["_id"] for p in chosen]
    gap = cohort.get("care_gap")
    gapped: dict[str, list] = {}
    for profile in chosen:
        for key, overdue in (profile.get("gaps") or {}).items():
            if overdue and key == (gap or key):
                gapped.setdefault(key, []).append(profile["_id"])
    campaign = Campaign(
        clinic=clinic.pk,
        name=data["name"].strip(),
        cohort=Cohort(**cohort),
        message=Message(**data["message"]),
        education_item_id=item.pk if item else None,
        education_title=item.title if item else None,
        send_at=send_at,
        created_by=created_by,
        targets=targets,
        gapped=gapped,
        push_to=_with_devices(targets),
        id_prefix=(int(send_at.timestamp()).to_bytes(4, "big") + os.urandom(5)).hex(),
        status="scheduled",
        open=bool(targets) or None,
        lease_until=send_at,
        work=targets,
        created_at=now,
        updated_at=now,
    )
    if not targets:
        campaign.status, campaign.finished_at = "sent", now
    campaign.save(force_insert=True)
    return campaign


def _with_devices(patient_ids: list) -> list:
    found = find_in(Device._get_collection(), "patient", patient_ids, {"patient": 1})
    return sorted({d["patient"] for d in found})


def get(clinic, campaign_id: str) -> Campaign:
    try:
        oid = ObjectId(campaign_id)
    except (InvalidId, TypeError):
        raise NotFound() from None
    campaign = Campaign.objects(pk=oid, clinic=clinic.pk).first()
    if campaign is None:
        raise NotFound()
    return campaign


def of_clinic(clinic):
    return (
        Campaign.objects(clinic=clinic.pk)
        .exclude("targets", "work", "gapped", "push_to")
        .order_by("-created_at", "-id")
    )


# --- delivery -----------------------------------------------------------------------------


def notification_id(prefix: str, index: int) -> ObjectId:
    return ObjectId(bytes.fromhex(prefix) + index.to_bytes(3, "big"))


def notification_ids(campaign: Campaign) -> list[ObjectId]:
    """The inbox ids the campaign's notifications have (or will have), target by target."""
    return [notification_id(campaign.id_prefix, i) for i in range(len(campaign.targets))]


def notification_key(campaign_id) -> str:
    return f"campaign:{campaign_id}"


def _body(campaign: dict) -> str:
    body = campaign["message"]["body"]
    if campaign.get("education_title"):
        body += f"\n\nRecommended reading: {campaign['education_title']}"
    return body


def claim(now: datetime, worker: str) -> dict | None:
    """Lease the campaign due longest ago that nobody holds."""
    return campaigns().find_one_and_update(
        {"open": True, "lease_until": {"$lte": now}},
        {"$set": {"lease_owner": worker, "lease_until": now + LEASE, "status": "sending"}},
        sort=[("open", 1), ("lease_until", 1)],
        return_document=ReturnDocument.AFTER,
    )


def _recipients(campaign: dict) -> dict:
    work = campaign["work"]
    profiles = population.profiles_collection()
    if len(work) < READ_BY_ID_BELOW:
        found = find_in(profiles, "_id", work, _DELIVERY_FIELDS)
    else:
        found = profiles.find(population.members_filter(campaign["clinic"]), _DELIVERY_FIELDS)
    return {p["_id"]: p for p in found}


def deliver_round(campaign: dict, now: datetime, worker: str, counts) -> None:
    """Reach everyone in `work` who can be reached now; keep those in quiet hours for later.

    Repeating a round (after a crash) inserts nothing twice: the inbox's unique key refuses
    the second copy, and only the worker still holding the lease closes the round."""
    clinic = str(campaign["clinic"])
    position = {pid: i for i, pid in enumerate(campaign["targets"])}
    people = _recipients(campaign)
    reach, later, opted_out, left, next_at = [], [], 0, 0, None
    for pid in campaign["work"]:
        person = people.get(pid)
        if person is None or (person.get("clinics") or {}).get(clinic, 0) <= 0:
            left += 1
        elif person.get("opt_out"):
            opted_out += 1
        elif until := quiet_until(person.get("tz"), person.get("quiet_hours"), now):
            later.append(pid)
            next_at = min(next_at or until, until)
        else:
            reach.append(pid)
    key, body = notification_key(campaign["_id"]), _body(campaign)
    inbox = [
        {
            "_id": notification_id(campaign["id_prefix"], position[pid]),
            "patient": pid,
            "key": key,
            "kind": "outreach",
            "title": campaign["message"]["title"],
            "body": body,
            "created_at": now,
        }
        for pid in reach
    ]
    with_devices = set(campaign.get("push_to") or [])
    names = {pid: people[pid].get("name") for pid in reach if pid in with_devices}
    delivered = queued = 0
    for start in range(0, len(inbox), INSERT_CHUNK):
        new, pushes = delivery.deliver(
            inbox[start : start + INSERT_CHUNK], names=names, now=now, with_devices=set(names)
        )
        delivered += len(new)
        queued += pushes
    done = not later
    closing = {
        "$set": {
            "work": later,
            "lease_until": next_at or now,
            "status": "sent" if done else "sending",
            "updated_at": now,
        },
        "$unset": {"lease_owner": ""},
        "$inc": {"opted_out": opted_out, "left_clinic": left},
        "$min": {"first_sent_at": now},
    }
    if done:
        closing["$unset"]["open"] = ""
        closing["$set"]["finished_at"] = now
    campaigns().update_one({"_id": campaign["_id"], "lease_owner": worker}, closing)
    dispatch._count(counts, "outreach_delivered", delivered)
    dispatch._count(counts, "outreach_deferred", len(later))
    if queued:
        dispatch._count(counts, "pushes_queued", queued)


def deliver_due(*, now: datetime, worker: str) -> dict:
    """The delivery job: every campaign round this worker can claim."""
    counts: dict[str, int] = {}
    for _ in range(MAX_CAMPAIGNS_PER_TICK):
        claimed = claim(now, worker)
        if claimed is None:
            break
        deliver_round(claimed, now, worker, counts)
        dispatch._count(counts, "campaign_rounds", 1)
    return counts


# --- outcomes -----------------------------------------------------------------------------


def outcomes(campaign: Campaign) -> dict:
    """Targeted, delivered, read, education completed and care gaps closed within 30 days."""
    inbox = Notification._get_collection()
    ids = notification_ids(campaign)
    sent = campaign.first_sent_at
    figures = {
        "targeted": len(campaign.targets),
        "delivered": 0,
        "read": 0,
        "education_completed": 0,
        "gap_closed_30d": 0,
    }
    delivered = find_in(inbox, "_id", ids, {"read_at": 1})
    for notification in delivered:
        figures["delivered"] += 1
        figures["read"] += notification.get("read_at") is not None
    if sent is None:
        return figures
    targets = set(campaign.targets)
    if campaign.education_item_id:
        completed = EducationProgress._get_collection().find(
            {
                "item": campaign.education_item_id,
                "status": "completed",
                "completed_at": {"$gte": sent},
            },
            {"patient": 1},
        )
        figures["education_completed"] = len({p["patient"] for p in completed} & targets)
    if campaign.gapped:
        figures["gap_closed_30d"] = _gaps_closed(campaign, sent)
    return figures


def _gaps_closed(campaign: Campaign, sent: datetime) -> int:
    """Targets with an overdue check-up when targeted whose gap closed within 30 days."""
    end = sent + GAP_WINDOW
    closed = population.profiles_collection().find(
        {**population.members_filter(campaign.clinic), "closed": {"$exists": True}},
        {"closed": 1},
    )
    stamps = {p["_id"]: p["closed"] for p in closed}
    patients = set()
    for key, gapped in campaign.gapped.items():
        for pid in gapped:
            at = stamps.get(pid, {}).get(key)
            if at is not None and sent <= at <= end:
                patients.add(pid)
    return len(patients)
