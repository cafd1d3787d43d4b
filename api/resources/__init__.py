"""One Blueprint per resource; BLUEPRINTS is the order they are registered in."""

from api.resources import (
    adherence,
    agreement_templates,
    agreements,
    alerts,
    auth,
    care_team,
    caregivers,
    clinics,
    education,
    health,
    logs,
    me,
    medications,
    notifications,
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
    notifications.blp,
    agreements.blp,
    agreement_templates.blp,
    education.blp,
    clinics.blp,
    logs.blp,
    adherence.blp,
    medications.blp,
    alerts.blp,
]
