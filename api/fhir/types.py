"""The resource types served: how each is read, gathered for a patient, and filtered.

Every type but Observation is small per patient, so its search filters the mapped resources
(`matcher`); Observation searches the log entries through their indexes (`search.py`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from api.fhir import params
from api.services.records import fhir_glucose, fhir_values
from api.services.records import fhir_read as read
from api.services.tracking import measures

Matcher = Callable[[dict], bool]


@dataclass(frozen=True)
class ResourceType:
    name: str
    read: Callable
    gather: Callable | None
    # Search parameter → its FHIR type (the CapabilityStatement lists them).
    search_params: dict[str, str]
    matcher: Callable[[object], list[Matcher]] = lambda args: []

    @property
    def allowed(self) -> frozenset:
        return frozenset(self.search_params) - {"_id"}


def _status(field: str, name: str, allowed: tuple[str, ...]):
    def build(args) -> list[Matcher]:
        wanted = params.codes(args, name, allowed)
        return [] if wanted is None else [lambda r: r.get(field) in wanted]

    return build


def _codings(concept: dict | None) -> list[dict]:
    return (concept or {}).get("coding") or []


def _procedure(args) -> list[Matcher]:
    found = []
    wanted = params.tokens(args, "code")
    if wanted is not None:
        found.append(lambda r: any(t.matches(c) for t in wanted for c in _codings(r.get("code"))))
    start, end = params.dates(args)
    if start is not None or end is not None:
        found.append(lambda r: _within(r.get("performedDateTime"), start, end))
    return found


def _within(value: str | None, start: datetime | None, end: datetime | None) -> bool:
    if value is None:
        return False
    low, _high = params.instant_range(value, "date")
    return (start is None or low >= start) and (end is None or low < end)


def _patient_identifier(args) -> list[Matcher]:
    wanted = params.tokens(args, "identifier")
    if wanted is None:
        return []
    return [lambda r: any(t.matches(_as_coding(i)) for t in wanted for i in r["identifier"])]


def _as_coding(identifier: dict) -> dict:
    return {"system": identifier.get("system"), "code": identifier.get("value")}


PATIENT_SYSTEM = f"{fhir_values.IDENTIFIER_BASE}patient"
_REF = "reference"
_TOKEN = "token"  # noqa: S105 # nosec B105: a search parameter type

TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "Patient",
            read.read_patient,
            read.gather_patient,
            {"_id": _TOKEN, "identifier": _TOKEN},
            _patient_identifier,
        ),
        ResourceType(
            "CarePlan",
            read.read_care_plan,
            read.gather_care_plan,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "status": _TOKEN},
            _status(
                "status",
                "status",
                ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error"),
            ),
        ),
        ResourceType(
            "Goal",
            read.read_goal,
            read.gather_goal,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "lifecycle-status": _TOKEN},
            _status(
                "lifecycleStatus",
                "lifecycle-status",
                (
                    "proposed",
                    "planned",
                    "accepted",
                    "active",
                    "on-hold",
                    "completed",
                    "cancelled",
                    "entered-in-error",
                    "rejected",
                ),
            ),
        ),
        ResourceType(
            "CareTeam",
            read.read_care_team,
            read.gather_care_team,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "status": _TOKEN},
            _status(
                "status",
                "status",
                ("proposed", "active", "suspended", "inactive", "entered-in-error"),
            ),
        ),
        ResourceType(
            "Observation",
            read.read_observation,
            None,
            {
                "_id": _TOKEN,
                "patient": _REF,
                "subject": _REF,
                "category": _TOKEN,
                "code": _TOKEN,
                "date": "date",
                "_sort": "special",
            },
        ),
        ResourceType(
            "Procedure",
            read.read_procedure,
            read.gather_procedure,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "code": _TOKEN, "date": "date"},
            _procedure,
        ),
        ResourceType(
            "MedicationStatement",
            read.read_medication_statement,
            read.gather_medication_statement,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "status": _TOKEN},
            _status(
                "status",
                "status",
                ("active", "completed", "entered-in-error", "intended", "stopped", "on-hold"),
            ),
        ),
        ResourceType(
            "Flag",
            read.read_flag,
            read.gather_flag,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF, "status": _TOKEN},
            _status("status", "status", ("active", "inactive", "entered-in-error")),
        ),
        ResourceType(
            "RelatedPerson",
            read.read_related_person,
            read.gather_related_person,
            {"_id": _TOKEN, "patient": _REF},
        ),
        ResourceType(
            "Communication",
            read.read_communication,
            read.gather_communication,
            {"_id": _TOKEN, "patient": _REF, "subject": _REF},
        ),
    )
}


def _cgm_allowed(args) -> bool:
    """Whether CGM sensor readings (LOINC 99504-3, laboratory) pass `code` and `category`."""
    code = {"system": fhir_values.LOINC, "code": fhir_glucose.SENSOR_READING[0]}
    category = {"system": fhir_values.OBSERVATION_CATEGORY, "code": "laboratory"}
    for name, coding in (("code", code), ("category", category)):
        wanted = params.tokens(args, name)
        if wanted is not None and not any(t.matches(coding) for t in wanted):
            return False
    return True


def observation_measures(args) -> tuple[list[str] | None, bool]:
    """The measures an Observation search's `code` and `category` allow (None: any), and
    whether they allow CGM readings."""
    return _measures(args), _cgm_allowed(args)


def _measures(args) -> list[str] | None:
    chosen = None
    wanted_codes = params.tokens(args, "code")
    if wanted_codes is not None:
        chosen = {
            name
            for name in measures.MEASURES
            for coding in _codings(fhir_values.measure_concept(name))
            if any(t.matches(coding) for t in wanted_codes)
        }
    wanted_categories = params.tokens(args, "category")
    if wanted_categories is not None:
        in_category = {
            name
            for name in measures.MEASURES
            if fhir_values.category_of(name)
            and any(
                t.matches(
                    {
                        "system": fhir_values.OBSERVATION_CATEGORY,
                        "code": fhir_values.category_of(name),
                    }
                )
                for t in wanted_categories
            )
        }
        chosen = in_category if chosen is None else chosen & in_category
    return None if chosen is None else sorted(chosen)
