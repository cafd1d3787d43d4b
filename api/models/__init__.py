"""mongoengine documents, one module per aggregate. Importing this registers them all."""

from api.models import agreement, care_team, caregiver, token, user  # noqa: F401
