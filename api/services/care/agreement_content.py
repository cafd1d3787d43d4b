"""An agreement's plan as data: checking goals against the measures registry, giving goals
and check-ups their stable ids, and converting between loaded request data and documents.

Request data arrives as plain dicts (already shaped by the schema); the same dict shape comes
back out of `content_data`, so templates, edits and versions all merge plain dicts.
"""

from api.errors import ValidationFailed
from api.ids import new_id
from api.models.agreement import AgreementContent, Checkup, EducationRef, Goal, Target
from api.services.common.intervals import parse_interval
from api.services.tracking import measures

CONTENT_FIELDS = ("title", "conditions", "goals", "checkups", "education", "start_on", "review_on")
_TARGET_NUMBERS = ("value", "low", "high")


def _bound(number: float, measure: measures.Measure, unit: str) -> str:
    return f"{round(measures.from_canonical(measure, number, unit), 2):g}"


def goal_problems(goal: dict) -> dict:
    """What is wrong with one goal's measure, unit and target values ({} when nothing)."""
    try:
        measure = measures.get(goal["measure"])
    except measures.UnknownMeasure as error:
        return {"measure": [str(error)]}
    unit = goal["unit"]
    if not measure.accepts(unit):
        return {"unit": [f"Use one of: {', '.join(measure.units)}."]}
    # A reading target (glucose, weight) must be a plausible reading; a total (steps, minutes)
    # may not exceed what a day (or a week) can hold.
    lowest = measure.entry_range[0]
    highest = measures.target_limit(measure, goal.get("period", "day"))
    problems = {}
    for name in _TARGET_NUMBERS:
        value = goal["target"].get(name)
        if value is None:
            continue
        canonical = measures.to_canonical(measure, value, unit)
        if not lowest <= canonical <= highest:
            low, high = _bound(lowest, measure, unit), _bound(highest, measure, unit)
            problems[name] = [f"Must be between {low} and {high} {unit} for {measure.name}."]
    return {"target": problems} if problems else {}


def _with_ids(items: list[dict], known: set[str], field: str, prefix: str, errors: dict):
    seen = set()
    for index, item in enumerate(items):
        given = item.get("id")
        if given is None:
            item["id"] = new_id(prefix)
        elif given not in known:
            errors[f"{field}.{index}.id"] = [
                f"No {field[:-1]} with this id in this agreement; leave it out for a new one."
            ]
        elif given in seen:
            errors[f"{field}.{index}.id"] = ["This id appears more than once."]
        seen.add(item["id"])
    return items


def _goal(data: dict) -> Goal:
    target = {k: v for k, v in data["target"].items() if v is not None}
    return Goal(**{**data, "target": Target(**target)})


def build_content(data: dict, *, known_ids: set[str] = frozenset()) -> AgreementContent:
    """A content document from loaded data; goals and check-ups keep known ids, new ones get
    fresh ids; an id this agreement never had is a 422 naming it."""
    errors: dict = {}
    goals = _with_ids([dict(g) for g in data.get("goals", [])], known_ids, "goals", "g", errors)
    checkups = _with_ids(
        [dict(c) for c in data.get("checkups", [])], known_ids, "checkups", "c", errors
    )
    start_on, review_on = data.get("start_on"), data.get("review_on")
    if start_on and review_on and review_on < start_on:
        errors["review_on"] = ["Must not be before start_on."]
    if errors:
        raise ValidationFailed(errors)
    return AgreementContent(
        title=data["title"],
        conditions=list(dict.fromkeys(c.strip().lower() for c in data.get("conditions", []))),
        goals=[_goal(g) for g in goals],
        checkups=[Checkup(**c) for c in checkups],
        education=[EducationRef(**e) for e in data.get("education", [])],
        start_on=start_on,
        review_on=review_on,
    )


def _target_data(target: Target) -> dict:
    data = {"op": target.op}
    data.update({k: getattr(target, k) for k in _TARGET_NUMBERS if getattr(target, k) is not None})
    return data


def content_data(content: AgreementContent, *, ids: bool = True) -> dict:
    """The plain-dict form of a content document (what schemas dump and edits merge into)."""

    def keep(item: dict) -> dict:
        return item if ids else {k: v for k, v in item.items() if k != "id"}

    return {
        "title": content.title,
        "conditions": list(content.conditions),
        "goals": [
            keep(
                {
                    "id": g.id,
                    "kind": g.kind,
                    "title": g.title,
                    "measure": g.measure,
                    "unit": g.unit,
                    "target": _target_data(g.target),
                    "period": g.period,
                    "reminder_times": list(g.reminder_times),
                }
            )
            for g in content.goals
        ],
        "checkups": [
            keep(
                {
                    "id": c.id,
                    "name": c.name,
                    "code": c.code,
                    "interval": c.interval,
                    "remind_days_before": list(c.remind_days_before),
                }
            )
            for c in content.checkups
        ],
        "education": [
            {"title": e.title, "url": e.url, "item_id": e.item_id} for e in content.education
        ],
        "start_on": content.start_on,
        "review_on": content.review_on,
    }


def ids_in(*contents: AgreementContent | None) -> set[str]:
    """Every goal and check-up id the given contents hold (the ids an edit may keep)."""
    return {
        item.id
        for content in contents
        if content is not None
        for item in (*content.goals, *content.checkups)
    }


def interval_problems(checkup: dict) -> dict:
    """Reminders must fall inside the interval (a P1M check-up cannot remind 60 days ahead)."""
    days = parse_interval(checkup["interval"]).approximate_days
    if any(before >= days for before in checkup.get("remind_days_before", [])):
        return {"remind_days_before": [f"Each must be less than the interval ({days} days)."]}
    return {}
