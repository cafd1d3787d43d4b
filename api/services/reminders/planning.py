"""Planning: active agreements → reminder occurrences, on the patient's own clock.

Planning is a pure function of (agreement, patient, window); storing is an unordered bulk
insert that the unique (patient, key) index turns idempotent. Wall-clock rules: a local time
that does not exist (spring forward) fires at the next valid minute; an ambiguous one (fall
back) fires once, at its first occurrence.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from api.db import find_in
from api.models.agreement import Agreement
from api.models.notification import Device
from api.models.reminder import Occurrence, ReminderSlice
from api.models.user import User
from api.services.care import checkups
from api.services.common import local_days

PLAN_HORIZON = timedelta(hours=48)
PLAN_BATCH = 500
MINUTE = timedelta(minutes=1)
DUPLICATE_KEY = 11000


def local_instant(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `hhmm` on `day` in `zone`, DST rules applied."""
    wall = datetime.combine(day, time.fromisoformat(hhmm))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; for an ambiguous time fold=0 is the first of the two
    # In a gap: walk from the earlier reading to the first minute at or after the wall time.
    instant = min(first, wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += MINUTE
    return instant


def quiet_until(timezone: str, hours, now: datetime) -> datetime | None:
    """The end of quiet hours (`{start, end}` "HH:MM") if `now` falls inside them, else None."""
    if not hours or hours["start"] == hours["end"]:
        return None
    start, end = hours["start"], hours["end"]
    tz = local_days.zone(timezone)
    local = now.astimezone(tz)
    clock = local.strftime("%H:%M")
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return local_instant(end_day, end, tz)


def texts(kind: str, item, due: date) -> tuple[str, str]:
    """The title and body a reminder shows, from its goal or check-up."""
    if kind == "goal_reminder":
        return item.title, "A reminder from your care plan. Log it when it's done."
    if kind == "checkup_reminder":
        return (
            f"Check-up coming up: {item.name}",
            f"Due on {due:%d %B %Y}. Book it with your care team.",
        )
    return f"Check-up overdue: {item.name}", f"It was due on {due:%d %B %Y}. Please book it soon."


def _occurrence(agreement, patient, item, kind, key, local_date, due_at, now) -> Occurrence:
    title, body = texts(kind, item, local_date)
    return Occurrence(
        patient=patient.pk,
        key=key,
        kind=kind,
        agreement=agreement.pk,
        local_date=local_date,
        due_at=due_at,
        title=title,
        body=body,
        timezone=patient.timezone or "UTC",
        quiet_hours=patient.quiet_hours,
        patient_name=patient.name,
        planned_at=now,
    )


def _days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """Local days touching [start, end), with a day of margin for DST-shifted times."""
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def goal_occurrences(agreement, patient, start, end, now) -> list[Occurrence]:
    zone = local_days.zone(patient.timezone)
    planned = []
    for day in _days(start, end, zone):
        for goal in agreement.content.goals:
            for hhmm in sorted(set(goal.reminder_times or [patient.reminder_time or "08:00"])):
                due_at = local_instant(day, hhmm, zone)
                if start <= due_at < end:
                    key = f"goal:{goal.id}:{day.isoformat()}T{hhmm}"
                    planned.append(
                        _occurrence(
                            agreement, patient, goal, "goal_reminder", key, day, due_at, now
                        )
                    )
                    planned[-1].goal_id = goal.id
                    planned[-1].goal_period = goal.period
    return planned


def checkup_occurrences(agreement, patient, start, end, now) -> list[Occurrence]:
    zone = local_days.zone(patient.timezone)
    hhmm = patient.reminder_time or "08:00"
    last_day = end.astimezone(zone).date()
    planned = []
    # Due dates follow the last completion of each test (the check-ups service's rule).
    last_done = (
        checkups.last_done_on_by_key(agreement.patient) if agreement.content.checkups else {}
    )
    for checkup in agreement.content.checkups:
        lead = max(checkup.remind_days_before or [0])
        until = last_day + timedelta(days=lead)
        last = last_done.get(checkups.match_key(checkup))
        for due in checkups.due_dates(agreement, checkup, until, last):
            notices = [
                (f"before:{n}", "checkup_reminder", due - timedelta(days=n))
                for n in sorted(set(checkup.remind_days_before))
            ]
            notices.append(("overdue", "checkup_overdue", due + timedelta(days=1)))
            for suffix, kind, day in notices:
                due_at = local_instant(day, hhmm, zone)
                if start <= due_at < end:
                    key = f"checkup:{checkup.id}:{due.isoformat()}:{suffix}"
                    planned.append(
                        _occurrence(agreement, patient, checkup, kind, key, due, due_at, now)
                    )
                    planned[-1].checkup_id = checkup.id
    return planned


def plan(agreement: Agreement, patient: User, now: datetime, horizon=PLAN_HORIZON):
    """Every occurrence of an active agreement due in (now, now + horizon]."""
    if agreement.status != "active":
        return []
    start, end = now + timedelta(microseconds=1), now + horizon
    return goal_occurrences(agreement, patient, start, end, now) + checkup_occurrences(
        agreement, patient, start, end, now
    )


def open_slices(minutes: Iterable[datetime]) -> None:
    """Mark these minutes as holding work; a worker closing one concurrently will see it.

    A slice is claimable once `lease_until` has passed: that is its own minute at first,
    the end of a worker's lease while one holds it.
    """
    requests = [
        UpdateOne(
            {"_id": m},
            {
                "$set": {"open": True},
                "$inc": {"generation": 1},
                # Claimable from its own minute on, unless a worker holds it for longer.
                "$max": {"lease_until": m},
            },
            upsert=True,
        )
        for m in sorted(set(minutes))
    ]
    if requests:
        ReminderSlice._get_collection().bulk_write(requests, ordered=False)


def slice_of(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def store(occurrences: list[Occurrence]) -> int:
    """Insert what is new (planning twice stores once); return how many were new."""
    if not occurrences:
        return 0
    with_devices = {
        d["patient"]
        for d in find_in(Device._get_collection(), "patient", {o.patient for o in occurrences})
    }
    for occurrence in occurrences:
        occurrence.has_devices = occurrence.patient in with_devices
    docs = [o.to_mongo().to_dict() for o in occurrences]
    try:
        Occurrence._get_collection().insert_many(docs, ordered=False)
        failed = set()
    except BulkWriteError as error:
        if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise
        failed = {e["index"] for e in error.details["writeErrors"]}
    new = [doc for i, doc in enumerate(docs) if i not in failed]
    open_slices(slice_of(doc["due_at"]) for doc in new)
    return len(new)


def _patients(ids) -> dict:
    found = find_in(User._get_collection(), "_id", ids)
    return {doc["_id"]: User._from_son(doc) for doc in found}


def plan_all(now: datetime) -> dict:
    """The planning job: every active agreement, in batches, for the next horizon."""
    counts = {"agreements": 0, "planned": 0}
    batch: list[Agreement] = []
    for agreement in Agreement.objects(status="active").order_by("patient"):
        batch.append(agreement)
        if len(batch) == PLAN_BATCH:
            counts["planned"] += _plan_batch(batch, now)
            counts["agreements"] += len(batch)
            batch = []
    counts["planned"] += _plan_batch(batch, now)
    counts["agreements"] += len(batch)
    return counts


def _plan_batch(batch: list[Agreement], now: datetime) -> int:
    patients = _patients({a.patient for a in batch})
    planned = []
    for agreement in batch:
        if agreement.patient in patients:
            planned += plan(agreement, patients[agreement.patient], now)
    return store(planned)


def _drop_future(patient_id, now: datetime, agreement_id=None) -> None:
    """Forget planned reminders not yet due (deferred ones keep their place).

    Read by the (patient, due_at) index alone and filtered here: the rest is a handful of
    documents, and extra predicates would cost the server its index plan.
    """
    collection = Occurrence._get_collection()
    future = collection.find(
        {"patient": patient_id, "due_at": {"$gt": now}},
        {"status": 1, "deferred_from": 1, "agreement": 1},
    )
    ids = [
        o["_id"]
        for o in future
        if o["status"] == "pending"
        and not o.get("deferred_from")
        and agreement_id in (None, o["agreement"])
    ]
    if ids:
        collection.delete_many({"_id": {"$in": ids}})


def replan_patient(patient: User, now: datetime) -> int:
    """Time zone, reminder time or quiet hours changed: plan this patient's future again."""
    _drop_future(patient.pk, now)
    planned = []
    for agreement in Agreement.objects(patient=patient.pk, status="active"):
        planned += plan(agreement, patient, now)
    return store(planned)


def replan_agreement(agreement: Agreement, now: datetime) -> int:
    """Activated, revised, completed or revoked: its future reminders follow at once."""
    _drop_future(agreement.patient, now, agreement.pk)
    patient = _patients([agreement.patient]).get(agreement.patient)
    return store(plan(agreement, patient, now)) if patient else 0


def devices_registered(patient_id, now: datetime) -> None:
    """A first device: reminders already planned will be pushed to it too."""
    Occurrence.objects(patient=patient_id, due_at__gt=now).update(set__has_devices=True)
