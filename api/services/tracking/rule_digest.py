"""The patient's alert rules as the write paths judge a reading against them.

Copies of this digest ride on what each write path reads anyway (the summary for log
entries, the uploader for CGM readings), so a reading that no rule can move costs no read
of the rules. `summary.mirror_rules` keeps the copies current.
"""

from api.models.alert import AlertRule
from api.services.tracking.glucose_entries import SENSOR_MEASURE

# What a write path needs of each rule to tell that a reading changes nothing.
RULE_FIELDS = (
    "kind",
    "enabled",
    "op",
    "value",
    "unit",
    "measure",
    "count",
    "personal_best",
    "yellow_below",
    "red_below",
    "open_alert",
    "open_level",
    "open_reading_at",
)

__all__ = ["RULE_FIELDS", "SENSOR_MEASURE", "rule_digest"]


def rule_digest(patient_id) -> dict:
    """measure → the patient's rules of it, as much of each as judging a reading needs."""
    digest: dict = {}
    projection = dict.fromkeys(RULE_FIELDS, 1)
    for rule in AlertRule._get_collection().find({"patient": patient_id}, projection):
        digest.setdefault(rule["measure"], []).append(rule)
    return digest
