"""Reminders: planning occurrences on the patient's clock and dispatching them."""
