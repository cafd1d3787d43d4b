"""The care plan: agreements, templates, check-ups, medications, the care team, education."""
