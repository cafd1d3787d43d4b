"""The visit report: one printable HTML page a provider reads before seeing the patient.

The plan in force, adherence per goal over the last 90 days (from the daily rollups, through
`api.services.tracking.adherence`, never the raw logs), check-ups and tests, readings out of
range in the last 30 days, medications and unresolved alerts. Rendered server-side by Jinja2 with
autoescaping on; the page loads nothing (no script, no external URL) and its one style block
is allowed by hash in the Content-Security-Policy.
"""

import base64
import hashlib
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.models.agreement import Agreement
from api.models.alert import Alert
from api.models.log import LIVE
from api.models.user import User
from api.services.alerts import engine as alerts
from api.services.alerts import verdicts
from api.services.care import checkups, medications
from api.services.common import local_days
from api.services.tracking import adherence, log_reading, measures

REPORT_DAYS = 90
OUT_OF_RANGE_DAYS = 30
MAX_OUT_OF_RANGE = 50
MAX_TESTS = 30
ROLLING = 7  # periods in the rolling adherence line
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "report"
# Chart geometry, in SVG user units.
CHART_WIDTH = 540
CHART_HEIGHT = 80
STRIP_HEIGHT = 12
CHART_GAP = 6
_OPS = {"at_least": "at least", "at_most": "at most"}


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def stylesheet() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def content_security_policy() -> str:
    """Nothing may load; the one inline style block is allowed by its hash."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    return f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'"


def target_text(goal) -> str:
    target = goal.target
    if target.op == "between":
        text = f"{target.low:g} to {target.high:g} {goal.unit}"
    else:
        text = f"{_OPS[target.op]} {target.value:g} {goal.unit}"
    return f"{text} a {goal.period}"


# --- the adherence chart -----------------------------------------------------------------


@dataclass
class Cell:
    x: float
    width: float
    state: str  # met, missed, in-progress
    label: str


@dataclass
class Chart:
    title: str
    percent: float | None
    days: int
    days_met: int
    current_streak: int
    period: str
    cells: list[Cell]
    line: str  # SVG polyline points of the rolling adherence, percent
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    strip_y: int = CHART_HEIGHT + CHART_GAP
    strip_height: int = STRIP_HEIGHT

    @property
    def total_height(self) -> int:
        return self.strip_y + self.strip_height


def chart(goal_report: dict, first: date, today: date) -> Chart:
    """Per period of the 90 days: a cell (met or missed) and a rolling adherence line."""
    period = goal_report["period"]
    start = local_days.period_start(first, period)
    width = CHART_WIDTH / len(local_days.periods(first, today, period))
    days_per_period = 7 if period == local_days.WEEK else 1
    cells, points, window = [], [], []
    for point in goal_report["series"]:
        x = round((point["date"] - start).days // days_per_period * width, 2)
        state = "met" if point["met"] else ("in-progress" if point["in_progress"] else "missed")
        cells.append(Cell(x, round(max(width - 1, 1), 2), state, f"{point['date']}: {state}"))
        if not point["in_progress"] or point["met"]:
            window = [*window, point["met"]][-ROLLING:]
            percent = 100.0 * sum(window) / len(window)
            y = round(CHART_HEIGHT * (1 - percent / 100), 2)
            points.append(f"{round(x + width / 2, 2)},{y}")
    return Chart(
        title=goal_report["title"],
        percent=goal_report["percent"],
        days=goal_report["days"],
        days_met=goal_report["days_met"],
        current_streak=goal_report["current_streak"],
        period=period,
        cells=cells,
        line=" ".join(points),
    )


# --- what the report shows ---------------------------------------------------------------


def _out_of_range(patient_id, goals: dict, tz: str, now: datetime) -> list[dict]:
    out = log_reading.out_of_range_newest_first(
        {
            "patient": patient_id,
            "state": LIVE,
            "occurred_at": {"$gte": now - timedelta(days=OUT_OF_RANGE_DAYS)},
        },
        {"goal_id": 1, "agreement": 1, "measure": 1, "occurred_at": 1, "value": 1}
        | {"entered_value": 1, "entered_unit": 1},
    )
    readings = []
    for entry in itertools.islice(out, MAX_OUT_OF_RANGE):
        goal = goals.get((entry.get("agreement"), entry.get("goal_id")))
        measure = measures.get(entry["measure"])
        value, unit = entry.get("entered_value"), entry.get("entered_unit")
        if value is None or unit is None:
            value, unit = entry["value"], measure.canonical_unit
        readings.append(
            {
                "at": entry["occurred_at"].astimezone(local_days.zone(tz)),
                "measure": measure.display or measure.name,
                "value": f"{value:g} {unit}",
                "target": target_text(goal) if goal else "",
            }
        )
    return readings


def _tests(patient_id) -> list[dict]:
    """The latest completions by anyone on the team, with who recorded them."""
    done = checkups.present(list(checkups.completions_for(patient_id).limit(MAX_TESTS)))
    for test in done:
        who = test["recorded_by"]
        test["by"] = (who["name"] or "") + (" (self-reported)" if test["self_reported"] else "")
    return done


def _alerts(patient_id) -> list[dict]:
    unresolved = list(Alert.objects(patient=patient_id, status__in=("open", "acknowledged")))
    rules = {
        r["_id"]: r for r in alerts.rules().find({"_id": {"$in": [a.rule for a in unresolved]}})
    }
    return [
        {
            "id": str(alert.pk),
            "severity": alert.severity,
            "status": alert.status,
            "opened_at": alert.opened_at,
            "what": verdicts.describe(rules[alert.rule], alert.level)
            if alert.rule in rules
            else alert.measure,
            "advice": alert.advice,
            "acknowledged_at": alert.acknowledged_at,
            "note": alert.note,
        }
        for alert in sorted(unresolved, key=lambda a: (-a.rank, a.opened_at))
    ]


def build(patient: User, *, now: datetime) -> dict:
    """Everything the template shows, as plain values."""
    tz = patient.timezone
    today = local_days.today(now, tz)
    first = today - timedelta(days=REPORT_DAYS - 1)
    in_force = list(
        Agreement.objects(patient=patient.pk, status__in=("active", "proposed")).order_by(
            "-active_since", "-created_at"
        )
    )
    goals = {(a.pk, g.id): g for a in in_force for g in a.content.goals}
    adherence_report = adherence.report(patient.pk, first=first, last=today, now=now)
    charts = [
        chart(item, first, today)
        for item in adherence_report["goals"]
        if item["series"] or item["days"]
    ]
    return {
        "patient": patient,
        "today": today,
        "first": first,
        "generated_at": now.astimezone(local_days.zone(tz)),
        "agreements": [
            {
                "agreement": agreement,
                "goals": [(g, target_text(g)) for g in agreement.content.goals],
            }
            for agreement in in_force
        ],
        "charts": charts,
        "checkups": checkups.status_for(patient.pk, now, tz),
        "tests": _tests(patient.pk),
        "out_of_range": _out_of_range(patient.pk, goals, tz, now),
        "out_of_range_days": OUT_OF_RANGE_DAYS,
        "report_days": REPORT_DAYS,
        "medications": medications.active_for(patient.pk),
        "alerts": _alerts(patient.pk),
    }


def render(patient: User, *, now: datetime) -> str:
    context = build(patient, now=now)
    return _environment().get_template("visit.html").render(stylesheet=stylesheet(), **context)
