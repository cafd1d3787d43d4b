"""The measures registry: what can be logged, in which units, and how a day's entries combine.

Values are stored in each measure's canonical unit; `to_canonical`/`from_canonical` convert.
`entry_range` is the plausible range of one entry (canonical unit); a daily target may be
up to `day_max` (sums add up over a day; a weekly target may be seven times that).
"""

from dataclasses import dataclass, field

COMBINE_SUM = "sum"  # the day's values add up (carbohydrates, minutes, steps)
COMBINE_COUNT = "count"  # the number of entries counts (custom check-offs)
COMBINE_EACH_IN_RANGE = "each_in_range"  # every reading of the day must meet the target
COMBINE_LAST = "last"  # the day's last reading is compared (weight, peak flow)


@dataclass(frozen=True)
class Measure:
    name: str
    canonical_unit: str
    # unit -> factor: canonical = value * factor
    units: dict[str, float]
    entry_range: tuple[float, float]
    combine: str
    day_max: float
    loinc: str | None = None
    display: str = ""
    aliases: dict[str, str] = field(default_factory=dict)

    def accepts(self, unit: str) -> bool:
        return unit in self.units


MGDL_PER_MMOLL = 18.0182

MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure(
            "carbohydrates",
            "g",
            {"g": 1.0},
            (0, 1000),
            COMBINE_SUM,
            2000,
            "2331-9",
            "Carbohydrates",
        ),
        Measure(
            "calories",
            "kcal",
            {"kcal": 1.0, "kJ": 1 / 4.184},
            (0, 10000),
            COMBINE_SUM,
            20000,
            "41981-2",
            "Calories",
        ),
        Measure(
            "exercise_minutes",
            "min",
            {"min": 1.0, "h": 60.0},
            (0, 1440),
            COMBINE_SUM,
            1440,
            "55411-3",
            "Exercise",
        ),
        Measure(
            "steps", "steps", {"steps": 1.0}, (0, 200000), COMBINE_SUM, 200000, "41950-7", "Steps"
        ),
        Measure(
            "blood_glucose",
            "mg/dL",
            {"mg/dL": 1.0, "mmol/L": MGDL_PER_MMOLL},
            (10, 1000),
            COMBINE_EACH_IN_RANGE,
            1000,
            "2339-0",
            "Blood glucose",
        ),
        # CGM readings (Nightscout uploads): for alert rules, never logged as entries.
        Measure(
            "sensor_glucose",
            "mg/dL",
            {"mg/dL": 1.0, "mmol/L": MGDL_PER_MMOLL},
            (20, 600),
            COMBINE_EACH_IN_RANGE,
            600,
            "99504-3",
            "Sensor glucose",
        ),
        Measure(
            "medication_doses",
            "dose",
            {"dose": 1.0},
            (0, 20),
            COMBINE_SUM,
            50,
            None,
            "Medication doses",
        ),
        Measure(
            "weight",
            "kg",
            {"kg": 1.0, "lb": 0.45359237},
            (0.5, 500),
            COMBINE_LAST,
            500,
            "29463-7",
            "Body weight",
        ),
        Measure(
            "blood_pressure_systolic",
            "mmHg",
            {"mmHg": 1.0},
            (40, 300),
            COMBINE_EACH_IN_RANGE,
            300,
            "8480-6",
            "Systolic blood pressure",
        ),
        Measure(
            "peak_flow",
            "L/min",
            {"L/min": 1.0},
            (30, 1000),
            COMBINE_LAST,
            1000,
            "19935-6",
            "Peak expiratory flow",
        ),
        Measure(
            "sodium",
            "mg",
            {"mg": 1.0, "g": 1000.0},
            (0, 20000),
            COMBINE_SUM,
            20000,
            "2947-0",
            "Sodium intake",
        ),
        Measure("custom", "times", {"times": 1.0}, (0, 1000), COMBINE_COUNT, 1000, None, "Custom"),
    )
}


class UnknownMeasure(ValueError):
    pass


class UnknownUnit(ValueError):
    pass


def get(name: str) -> Measure:
    try:
        return MEASURES[name]
    except KeyError:
        raise UnknownMeasure(f"Unknown measure; use one of: {', '.join(MEASURES)}.") from None


def factor(measure: Measure, unit: str | None) -> float:
    unit = unit or measure.canonical_unit
    if unit not in measure.units:
        raise UnknownUnit(
            f"Unknown unit for {measure.name}; use one of: {', '.join(measure.units)}."
        )
    return measure.units[unit]


def to_canonical(measure: Measure, value: float, unit: str | None) -> float:
    return value * factor(measure, unit)


def from_canonical(measure: Measure, value: float, unit: str | None) -> float:
    return value / factor(measure, unit)


def target_limit(measure: Measure, period: str) -> float:
    return measure.day_max * (7 if period == "week" else 1)
