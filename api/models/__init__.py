"""mongoengine documents, one module per aggregate. Importing this registers them all."""

from api.models import (  # noqa: F401
    agreement,
    alert,
    campaign,
    care_team,
    caregiver,
    checkup,
    clinic,
    education,
    glucose,
    idempotency,
    log,
    medication,
    message,
    notification,
    outbox,
    panel,
    population,
    reminder,
    token,
    user,
)
