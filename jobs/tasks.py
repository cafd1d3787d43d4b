"""Imports every job module, so each registers itself with the registry."""
