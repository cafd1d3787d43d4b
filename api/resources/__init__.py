"""One Blueprint per resource; BLUEPRINTS is the order they are registered in."""

from api.resources import (
    auth,
    care_team,
    caregivers,
    clinics,
    education,
    health,
    me,
    medications,
    patients,
    providers,
)

BLUEPRINTS = [
    health.blp,
    auth.blp,
    me.blp,
    providers.blp,
    care_team.blp,
    patients.blp,
    caregivers.blp,
    medications.blp,
    education.blp,
    clinics.blp,
]
