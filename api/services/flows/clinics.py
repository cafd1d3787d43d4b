"""A provider placed in a clinic: the clinic's patients grow by theirs, so its population
aggregates are rebuilt from the summaries."""

from datetime import datetime

from api.models.clinic import Clinic
from api.services.clinic import clinics, population_rebuild


def add_provider(*, clinic_id, provider_id: str, now: datetime) -> Clinic:
    clinic, added = clinics.add_provider(clinic_id=clinic_id, provider_id=provider_id, now=now)
    if added:
        population_rebuild.rebuild(clinic.pk, now=now)
    return clinic
