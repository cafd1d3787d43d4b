"""The console's triage of a provider's panel: counts per bucket, and the search by name or
condition that the panel's own index does not cover.

Counts are read from the panel's bucket counts (one read whatever the panel's size); a page
without a search is a page of the panel (`panel.page`). A search by name or condition walks
the provider's patients, so it costs what the panel holds: it is for finding someone, not
for paging through thousands.
"""

from api.db import find_in
from api.models.agreement import Agreement
from api.models.care_team import CareTeamMember
from api.models.user import User
from api.services.clinic import panel
from api.services.tracking import summary as patient_summary

BUCKETS = (
    ("urgent_alert", "Urgent alert"),
    ("warning_alert", "Warning alert"),
    ("overdue_checkup", "Overdue check-up"),
    ("no_recent_logs", "No data for 3 days"),
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


def _sort_value(summary: dict, sort: str):
    if sort == "last_log":
        return summary.get("last_logged_at") is not None, summary.get("last_logged_at") or 0
    value = summary.get(sort)
    return value is None, value or 0.0


def search(provider_id, *, name: str, condition: str, view: str, sort: str, descending: bool):
    """The provider's active patients whose name contains `name` and who have `condition`
    in an active agreement, in `view`, sorted as the panel sorts: [{"patient": id}, ...]."""
    ids = [
        m["patient"]
        for m in CareTeamMember._get_collection().find(
            {"provider": provider_id, "status": "active"}, {"patient": 1}
        )
    ]
    if name:
        wanted = name.casefold()
        users = find_in(User._get_collection(), "_id", ids, {"name": 1})
        ids = [u["_id"] for u in users if wanted in (u.get("name") or "").casefold()]
    if condition:
        wanted = condition.casefold()
        agreements = find_in(
            Agreement._get_collection(),
            "patient",
            ids,
            {"patient": 1, "status": 1, "content.conditions": 1},
        )
        ids = list(
            {
                a["patient"]
                for a in agreements
                if a.get("status") == "active"
                and wanted
                in {c.casefold() for c in (a.get("content") or {}).get("conditions") or []}
            }
        )
    summaries = {s["_id"]: s for s in find_in(patient_summary.summaries(), "_id", ids)}
    matched = [(summaries.get(pid) or {}, pid) for pid in ids]
    matched = [(s, pid) for s, pid in matched if view in panel.views_of(s)]
    matched.sort(key=lambda pair: _sort_value(pair[0], sort), reverse=descending)
    return [{"patient": pid} for _summary, pid in matched]
