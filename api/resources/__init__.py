"""One Blueprint per resource; BLUEPRINTS is the order they are registered in."""

from api.resources import auth, care_team, clinics, education, health, me, providers

BLUEPRINTS = [
    health.blp,
    auth.blp,
    me.blp,
    providers.blp,
    care_team.blp,
    education.blp,
    clinics.blp,
]
