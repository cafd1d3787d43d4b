"""Check-ups and tests: due dates, statuses, completions and the duplicate-test guard.

`next_due_on` is THE rule for when a check-up is due: one interval after its last completion
(the same test done under any agreement, by anyone), else one interval after the agreement
started. Reminders plan from `due_dates`, which continues the same series.
"""

from datetime import UTC, date, datetime, timedelta

from bson import ObjectId

from api.errors import Conflict, NotFound, field_error
from api.models.agreement import Agreement
from api.models.checkup import CheckupCompletion
from api.models.user import User
from api.services.common import local_days
from api.services.common.intervals import add_interval, parse_interval
from api.services.tracking import summary as patient_summary

# A check-up without reminders is "due" this many days ahead of its date.
DEFAULT_DUE_WINDOW_DAYS = 14
MAX_SCHEDULE_YEARS = 10


def match_key(checkup) -> str:
    """Two check-ups are the same test when their codes match, else their names."""
    return (checkup.code or checkup.name).strip().lower()


def agreement_start(agreement) -> date:
    return agreement.content.start_on or (agreement.active_since or agreement.created_at).date()


def due_dates(agreement, checkup, until: date, last_done_on: date | None = None) -> list[date]:
    """The due dates up to `until`: one interval after another from the last completion
    (else the agreement's start). The first is `next_due_on`."""
    base = last_done_on or agreement_start(agreement)
    interval = parse_interval(checkup.interval)
    dates, n = [], 1
    while (due := add_interval(base, interval, n)) <= until:
        dates.append(due)
        n += 1
    return dates


def next_due_on(agreement, checkup, last_done_on: date | None = None) -> date:
    base = last_done_on or agreement_start(agreement)
    return add_interval(base, parse_interval(checkup.interval))


def status_of(checkup, due: date, today: date) -> str:
    if due < today:
        return "overdue"
    window = max(checkup.remind_days_before or [DEFAULT_DUE_WINDOW_DAYS])
    return "due" if due <= today + timedelta(days=window) else "upcoming"


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def latest_by_key(patient_id) -> dict[str, dict]:
    """The latest completion of each test (by match key), as raw documents."""
    latest: dict[str, dict] = {}
    cursor = CheckupCompletion._get_collection().find(
        {"patient": patient_id}, sort=[("done_on", -1), ("created_at", -1)]
    )
    for doc in cursor:
        latest.setdefault(doc["match_key"], doc)
    return latest


def last_done_on_by_key(patient_id) -> dict[str, date]:
    return {key: _as_date(doc["done_on"]) for key, doc in latest_by_key(patient_id).items()}


def _active_agreements(patient_id) -> list[Agreement]:
    return list(Agreement.objects(patient=patient_id, status="active").order_by("created_at"))


def _timezone(patient_id, tz: str | None) -> str:
    if tz:
        return tz
    user = User.objects(pk=patient_id).only("timezone").first()
    return user.timezone if user else "UTC"


def status_for(patient_id, now: datetime, tz: str | None = None) -> list[dict]:
    """Every check-up of the active agreements with its next due date and status, soonest
    first; the status is judged in the patient's local date."""
    today = local_days.today(now, _timezone(patient_id, tz))
    latest = latest_by_key(patient_id)
    items = []
    for agreement in _active_agreements(patient_id):
        for checkup in agreement.content.checkups:
            last = latest.get(match_key(checkup))
            due = next_due_on(agreement, checkup, last and _as_date(last["done_on"]))
            items.append(
                {
                    "id": checkup.id,
                    "agreement_id": str(agreement.pk),
                    "name": checkup.name,
                    "code": checkup.code,
                    "interval": checkup.interval,
                    "remind_days_before": list(checkup.remind_days_before or []),
                    "next_due_on": due,
                    "status": status_of(checkup, due, today),
                    "last_done_on": last and _as_date(last["done_on"]),
                    "last_completion_id": last and str(last["_id"]),
                }
            )
    return sorted(items, key=lambda item: (item["next_due_on"], item["name"]))


def refresh_summary(patient_id, *, now: datetime, tz: str | None = None) -> dict:
    """Put the check-up schedule on the patient's summary (the panel reads it there): the
    next due date, each check-up's due date, and the `overdue_checkup` flag."""
    items = status_for(patient_id, now, tz)
    schedule = [
        {"id": i["id"], "name": i["name"], "due_on": i["next_due_on"].isoformat()} for i in items
    ]
    # One write for the three fields; check-ups own the `overdue_checkup` flag.
    overdue = any(i["status"] == "overdue" for i in items)
    return patient_summary.set_checkups(patient_id, schedule, overdue=overdue)


# --- completions ---------------------------------------------------------------------------


def _find_checkup(patient_id, checkup_id: str):
    agreement = Agreement.objects(
        patient=patient_id, status="active", content__checkups__id=checkup_id
    ).first()
    if agreement is None:
        raise NotFound("No check-up with this id in the patient's active agreements.")
    return agreement, agreement.checkup(checkup_id)


def _earlier_within_half_interval(patient_id, key: str, checkup, done_on: date):
    half = timedelta(days=parse_interval(checkup.interval).approximate_days / 2)
    return (
        CheckupCompletion.objects(
            patient=patient_id,
            match_key=key,
            done_on__gt=done_on - half,
            done_on__lt=done_on + half,
        )
        .order_by("-done_on", "-created_at")
        .first()
    )


def record_completion(
    *,
    patient_id: ObjectId,
    checkup_id: str,
    data: dict,
    recorded_by: ObjectId,
    recorded_by_role: str,
    self_reported: bool,
    now: datetime,
    tz: str | None = None,
) -> CheckupCompletion:
    """Record a check-up done on `data["done_on"]`; moves its next due date.

    The same test done by anyone within half its interval is refused (409 naming it) unless
    `confirm_duplicate` is set: a test repeated by a second provider is usually a mistake.
    """
    agreement, checkup = _find_checkup(patient_id, checkup_id)
    tz = _timezone(patient_id, tz)
    done_on = data["done_on"]
    if done_on > local_days.today(now, tz):
        raise field_error("done_on", "Must not be in the future (in the patient's time zone).")
    key = match_key(checkup)
    earlier = _earlier_within_half_interval(patient_id, key, checkup, done_on)
    if earlier is not None and not data.get("confirm_duplicate"):
        raise Conflict(
            f"{checkup.name} was already done on {earlier.done_on:%Y-%m-%d}, within half its "
            "interval. Resend with `confirm_duplicate: true` to record it anyway.",
            earlier=_as_problem_field(present([earlier])[0]),
        )
    completion = CheckupCompletion(
        patient=patient_id,
        agreement=agreement.pk,
        checkup_id=checkup.id,
        code=checkup.code,
        name=checkup.name,
        match_key=key,
        done_on=done_on,
        result=data.get("result"),
        note=data.get("note"),
        recorded_by=recorded_by,
        recorded_by_role=recorded_by_role,
        self_reported=self_reported,
        confirmed_duplicate=earlier is not None,
        duplicate_of=earlier.pk if earlier is not None else None,
        duplicate_reason=data.get("reason") if earlier is not None else None,
        created_at=now,
    ).save(force_insert=True)
    return completion


def _as_problem_field(shaped: dict) -> dict:
    """A completion as JSON-ready values, for the 409 problem body."""
    created = shaped["created_at"].astimezone(UTC).isoformat(timespec="milliseconds")
    return {
        **shaped,
        "done_on": shaped["done_on"].isoformat(),
        "created_at": created.replace("+00:00", "Z"),
    }


def agreements_testing(patient_id, key: str) -> list[Agreement]:
    """The active agreements with a check-up of this test (a completion moves their dates)."""
    return [
        agreement
        for agreement in _active_agreements(patient_id)
        if any(match_key(c) == key for c in agreement.content.checkups)
    ]


def completions_for(patient_id):
    """Every completion of the patient, by anyone on the team, newest first."""
    return CheckupCompletion.objects(patient=patient_id).order_by("-done_on", "-created_at")


def present(completions) -> list[dict]:
    """Completions with who recorded them (name, role, specialty)."""
    people = {
        u.pk: u
        for u in User.objects(pk__in=list({c.recorded_by for c in completions})).only(
            "name", "role", "specialty"
        )
    }
    shaped = []
    for c in completions:
        who = people.get(c.recorded_by)
        shaped.append(
            {
                "id": str(c.pk),
                "checkup_id": c.checkup_id,
                "agreement_id": str(c.agreement),
                "name": c.name,
                "code": c.code,
                "done_on": _as_date(c.done_on),
                "result": c.result,
                "note": c.note,
                "self_reported": c.self_reported,
                "confirmed_duplicate": c.confirmed_duplicate,
                "duplicate_of": str(c.duplicate_of) if c.duplicate_of else None,
                "duplicate_reason": c.duplicate_reason,
                "recorded_by": {
                    "id": str(c.recorded_by),
                    "name": who.name if who else None,
                    "role": c.recorded_by_role or (who.role if who else None),
                    "specialty": who.specialty if who else None,
                },
                "created_at": c.created_at,
            }
        )
    return shaped
