"""The views derived from a patient's summary: their panel rows and their clinics' aggregates
(and, when the conditions moved, the panels' search terms).

Every flow that rewrites the summary ends here, with the summary as its last write left it,
so each view is built once, from the current state, without reading it back.
"""

from datetime import datetime

from api.services.clinic import panel, panel_search, population


def summary_moved(patient_id, summary: dict, *, now: datetime, conditions: bool = False) -> None:
    """Panel rows (written only if their keys changed), then the population aggregates
    (with the active agreements' conditions too when `conditions`)."""
    panel.sync_patient(patient_id, summary=summary)
    found = None
    if conditions:
        found = population.conditions_of(patient_id)
        panel_search.refresh(patient_id, conditions=found)
    population.follow(patient_id, summary=summary, conditions=found, now=now)
