"""CGM jobs: the triage flags of patients whose sensor went quiet (hourly)."""

from api.services.flows import glucose as glucose_flow
from jobs.context import Worker
from jobs.registry import job


@job("cgm_flags", "interval", minutes=60)
def flags(now, worker: Worker) -> dict:
    return glucose_flow.refresh_stale_flags(now=now)
