"""A profile changed, and what follows for a patient.

the profile (`identity.profiles`)
  → the summary's copy of the zone and glucose unit (the logging path reads it there)
  → the CGM uploaders' zone (later readings count in the new zone's days)
  → the population profile's copy (name, zone, quiet hours, opt-out, birth date)
  → the panels' search terms, when the name changed
  → reminders re-planned, when the zone, reminder time or quiet hours changed
"""

from datetime import datetime

from api.models.user import User
from api.services.clinic import panel_search, population
from api.services.identity import profiles
from api.services.reminders import planning
from api.services.tracking import summary, uploaders


def update_profile(user: User, changes: dict, *, now: datetime) -> User:
    renamed = "name" in changes
    replans = profiles.update(user, changes)
    if user.role == "patient":
        summary.mirror_profile(user.pk, tz=user.timezone, glucose_unit=user.glucose_unit)
        uploaders.zone_changed(user.pk, user.timezone)
        population.profile_changed(user)
        if renamed:
            panel_search.refresh(user.pk, name=user.name)
        if replans:
            planning.replan_patient(user, now)
    return user
