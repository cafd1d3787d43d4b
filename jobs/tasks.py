"""Imports every job module, so each registers itself with the registry."""

from jobs import alerts, cgm, nightly, outbox, outreach, reminders  # noqa: F401
