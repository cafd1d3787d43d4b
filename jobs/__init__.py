"""Background jobs: each an idempotent function of (now), run by `python -m jobs`."""
