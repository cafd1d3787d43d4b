"""The console's triage of a provider's panel: counts per bucket, and each page's conditions.

Counts are read from the panel's bucket counts (one read whatever the panel's size); a page
without a search is a page of the panel (`panel.page`), a search by name or condition one of
`panel_search` (it costs what it finds).
"""

from api.models.agreement import Agreement
from api.services.clinic import panel

BUCKETS = (
    ("urgent_alert", "Urgent alert"),
    ("warning_alert", "Warning alert"),
    ("overdue_checkup", "Overdue check-up"),
    ("no_data_7d", "No data for 7 days"),
    ("low_adherence", "Adherence below 50 %"),
    ("meeting_targets", "Meeting targets"),
)
COUNT_SORT = "adherence_7d"  # every sort key counts the same rows; any one will do


def bucket_counts(provider_id) -> dict[str, int]:
    views = ["all", *(view for view, _label in BUCKETS)]
    ids = [f"{provider_id}:{view}:{COUNT_SORT}" for view in views]
    found = {
        doc["_id"]: doc.get("buckets") or {} for doc in panel.counts().find({"_id": {"$in": ids}})
    }
    return {
        view: sum(n for n in found.get(doc_id, {}).values() if n > 0)
        for view, doc_id in zip(views, ids, strict=True)
    }


def conditions_of(patient_ids) -> dict:
    """Each patient's conditions, from their active agreements (one read for a page)."""
    conditions: dict = {pid: set() for pid in patient_ids}
    found = Agreement._get_collection().find(
        {"patient": {"$in": list(patient_ids)}, "status": "active"},
        {"patient": 1, "content.conditions": 1},
    )
    for doc in found:
        conditions[doc["patient"]].update((doc.get("content") or {}).get("conditions") or [])
    return {pid: sorted(names) for pid, names in conditions.items()}
