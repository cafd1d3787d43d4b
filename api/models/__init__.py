"""mongoengine documents, one module per aggregate. Importing this registers them all."""

from api.models import (  # noqa: F401
    agreement,
    alert,
    care_team,
    caregiver,
    clinic,
    education,
    idempotency,
    log,
    medication,
    notification,
    reminder,
    token,
    user,
)
