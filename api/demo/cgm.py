"""Continuous glucose monitors: three diabetic patients' phones upload their sensor's last
fortnight, the way xDrip+ does, through the Nightscout upload path (the uploader's key, the
entry parser, the upload flow), so the glucose metrics and monitored days are what use made.
"""

import json
import zlib
from datetime import date, datetime, timedelta

from api.demo.cast import CLINIC_TZ, SILENT
from api.demo.history import SILENT_DAYS
from api.models.user import User
from api.services.flows import glucose as glucose_flow
from api.services.tracking import cgm_traces, glucose, uploaders

CGM_DAYS = 14
UPLOADER = "xDrip+ (Dexcom G6)"
# Who wears one, and how their glucose runs: Rosa's nights go low; Walter's sensor stopped
# when he stopped logging, ten days ago.
WEARERS = {
    "pat": cgm_traces.Profile(baseline=115.0, meal_scale=0.9),
    "rosa": cgm_traces.Profile(baseline=120.0, low_night_chance=0.45),
    "walter": cgm_traces.Profile(baseline=150.0, meal_scale=1.3),
}


def upload_traces(cast, people: dict[str, User], *, today: date, now: datetime) -> None:
    for person in cast:
        profile = WEARERS.get(person.key)
        patient = people.get(person.key)
        if profile is None or patient is None or uploaders.listing(patient.pk):
            continue
        started = now - timedelta(days=CGM_DAYS + 1)
        uploader = uploaders.create(patient.pk, UPLOADER, created_by=patient.pk, now=started)
        until = now - timedelta(days=SILENT_DAYS) if person.story == SILENT else now
        trace = cgm_traces.trace(
            today - timedelta(days=CGM_DAYS),
            CGM_DAYS + 1,
            tz=CLINIC_TZ,
            seed=zlib.crc32(person.seed.encode()),
            profile=profile,
            until=until,
        )
        _upload(patient, uploader, trace, now=now)


def _upload(patient: User, uploader: dict, trace: list[dict], *, now: datetime) -> None:
    """A day of readings per POST, as a phone catching up after a while offline."""
    earliest = glucose.earliest_accepted(uploader["created_at"])
    per_post = 24 * 12
    for start in range(0, len(trace), per_post):
        posted = trace[start : start + per_post]
        readings = [
            glucose.parse(item, earliest=earliest, now=now, size=len(json.dumps(item)))
            for item in posted
        ]
        glucose_flow.entries_uploaded(patient.pk, uploader["tz"], readings, now=now)
        uploaders.record(uploader["_id"], last_reading_at=readings[-1].at)
