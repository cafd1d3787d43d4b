"""Across a panel and a clinic: the panel, population, campaigns, messages, clinics."""
