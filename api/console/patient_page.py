"""Everything the patient page shows, gathered from the services the API uses.

The core (plan, 90-day adherence charts, check-ups, tests, medications, alerts) is the
visit report's; the page adds the version history, readings charts, recent entries, the
care-team thread, caregivers and the last review. Every read is bounded by time or count,
so a year of data costs what ten days do.
"""

from datetime import datetime, timedelta

from pymongo import DESCENDING

from api.access import Scope
from api.console import charts
from api.models.log import LIVE
from api.services.care import agreements
from api.services.clinic import messages, panel
from api.services.common import local_days
from api.services.identity import caregivers
from api.services.records import report
from api.services.tracking import logs, measures
from api.services.tracking import summary as patient_summary

READING_MEASURES = ("blood_glucose", "peak_flow", "blood_pressure_systolic")
READINGS_DAYS = 14
MAX_READINGS = 2000
RECENT_ENTRIES = 20
RECENT_WINDOWS = (timedelta(days=7), timedelta(days=90), None)
THREAD_MESSAGES = 30
VERSIONS_SHOWN = 10


def _target(goal, measure) -> tuple[float | None, float | None]:
    t = goal.target

    def canonical(value):
        return None if value is None else measures.to_canonical(measure, value, goal.unit)

    if t.op == "between":
        return canonical(t.low), canonical(t.high)
    if t.op == "at_least":
        return canonical(t.value), None
    return None, canonical(t.value)


def readings_charts(patient_id, goals, tz: str, now: datetime) -> list:
    """For each monitoring goal (glucose, peak flow, blood pressure): the last two weeks."""
    zone = local_days.zone(tz)
    first = now - timedelta(days=READINGS_DAYS)
    today = local_days.today(now, tz)
    day_labels = []
    for n in range(READINGS_DAYS, -1, -2):
        day = today - timedelta(days=n)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        if midnight >= first:
            day_labels.append((midnight, f"{day:%d %b}"))
    found = []
    for goal in goals:
        if goal.measure not in READING_MEASURES:
            continue
        measure = measures.get(goal.measure)
        target = _target(goal, measure)
        cursor = (
            logs.entries()
            .find(
                {
                    "patient": patient_id,
                    "goal_id": goal.id,
                    "state": LIVE,
                    "occurred_at": {"$gte": first},
                },
                {"occurred_at": 1, "value": 1},
            )
            .sort("occurred_at", DESCENDING)
            .limit(MAX_READINGS)
        )
        points = sorted((doc["occurred_at"], doc["value"]) for doc in cursor)
        if not points:
            continue
        readings = [(at, value, not _within(value, target)) for at, value in points]
        found.append(
            charts.readings_chart(
                title=goal.title,
                unit=measure.canonical_unit,
                tz=tz,
                readings=readings,
                target=target,
                first=first,
                last=now,
                day_labels=day_labels,
                hours=[at.astimezone(zone).hour for at, _v in points],
            )
        )
    return found


def _within(value: float, target) -> bool:
    low, high = target
    return (low is None or value >= low) and (high is None or value <= high)


def _latest_entries(patient_id, now: datetime) -> list[dict]:
    """The RECENT_ENTRIES newest live entries, looked for in widening windows: the embedded
    server reads every index entry a range holds before it applies `limit`, so the whole
    history is read only for a patient with too few entries in the last 90 days."""
    projection = {"occurred_at": 1, "goal_id": 1, "measure": 1, "value": 1, "note": 1}
    projection |= {"source": 1, "entered_value": 1, "entered_unit": 1, "in_target": 1}
    for window in RECENT_WINDOWS:
        query = {"patient": patient_id, "state": LIVE}
        if window is not None:
            query["occurred_at"] = {"$gte": now - window}
        found = list(
            logs.entries()
            .find(query, projection)
            .sort("occurred_at", DESCENDING)
            .limit(RECENT_ENTRIES)
        )
        if len(found) == RECENT_ENTRIES:
            break
    return found


def recent_entries(patient_id, goal_titles: dict, tz: str, now: datetime) -> list[dict]:
    shown = []
    for doc in _latest_entries(patient_id, now):
        measure = measures.get(doc["measure"]) if doc.get("measure") else None
        value, unit = doc.get("entered_value"), doc.get("entered_unit")
        if value is None or unit is None:
            value, unit = doc.get("value"), measure.canonical_unit if measure else ""
        shown.append(
            {
                "at": doc.get("occurred_at"),
                "goal": goal_titles.get(doc.get("goal_id"), doc.get("goal_id")),
                "value": f"{value:g} {unit}" if value is not None else "—",
                "out": doc.get("in_target") is False,
                "note": doc.get("note"),
                "source": doc.get("source") or "app",
            }
        )
    return shown


def build(scope: Scope, *, now: datetime) -> dict:
    patient = scope.patient
    tz = patient.timezone or "UTC"
    context = report.build(patient, now=now)
    goals = [
        goal
        for item in context["agreements"]
        if item["agreement"].status == "active"
        for goal, _target_text in item["goals"]
    ]
    versions = {
        item["agreement"].pk: list(agreements.versions(item["agreement"]).limit(VERSIONS_SHOWN))
        for item in context["agreements"]
        if item["agreement"].status == "active"
    }
    thread = messages.present(list(messages.thread_for(patient.pk).limit(THREAD_MESSAGES)))
    messages.mark_read(patient.pk, scope.caller.id)
    grants = list(caregivers.grants_of(scope))
    summary = patient_summary.summaries().find_one(
        {"_id": patient.pk}, {"reviewed_at": 1, "reviewed_by": 1, "reviewed_by_name": 1}
    )
    drafts = list(agreements.of_patient(patient.pk, status="draft").limit(10))
    return {
        **context,
        "tz": tz,
        "now": now,
        "versions": versions,
        "readings": readings_charts(patient.pk, goals, tz, now),
        "readings_days": READINGS_DAYS,
        "recent": recent_entries(patient.pk, {g.id: g.title for g in goals}, tz, now),
        "thread": thread,
        "grants": [(grant, caregivers.status_of(grant, patient, now)) for grant in grants],
        "caregiver_names": caregivers.people_by_id(grants),
        "reviewed": panel.reviewed_of(summary or {}),
        "drafts": drafts,
    }
