"""Telling people of an alert: who the rule names, their inbox notifications, queued pushes.

The inbox notification and its push are written together; the jobs worker sends the push.
"""

from datetime import datetime

from bson import ObjectId

from api.models.care_team import CareTeamMember
from api.models.user import User
from api.services.alerts.verdicts import describe
from api.services.notify import delivery
from api.services.reminders import planning as reminders

PROVIDER_ROLES = ("primary", "specialist")


def _notification(alert, rule, patient, recipient, *, key_suffix, now) -> dict:
    """One inbox notification; its key (alert, recipient) makes a retry store it once."""
    about = describe(rule, alert.get("level"))
    label = alert["severity"].capitalize()
    if recipient == patient["_id"]:
        title = f"{label}: {about}"
        body = alert.get("advice") or "Your care team has been told."
    else:
        title = f"{label} alert: {patient.get('name', 'a patient')}"
        body = about
    return {
        "_id": ObjectId(),
        "patient": patient["_id"],
        "recipient": recipient,
        "key": f"alert:{alert['_id']}{key_suffix}:{recipient}",
        "kind": "alert",
        "title": title[:300],
        "body": body[:2000],
        "created_at": now,
        "alert": alert["_id"],
    }


def recipients(patient_id, notify: list[str]) -> list[ObjectId]:
    """The providers (by care-team role) and the patient that `notify` names."""
    roles = [role for role in notify if role in PROVIDER_ROLES]
    found = []
    if roles:
        # The (patient, status) index alone: a third predicate costs the embedded server
        # its plan (a scan of every membership); a patient's team is a handful of rows.
        members = CareTeamMember._get_collection().find(
            {"patient": patient_id, "status": "active"}, {"provider": 1, "role": 1}
        )
        found = list(dict.fromkeys(m["provider"] for m in members if m["role"] in roles))
    if "patient" in notify:
        found.append(patient_id)
    return found


def deliver(alert: dict, rule: dict, *, now: datetime, key_suffix: str = "") -> None:
    """Inbox and a queued push for everyone the rule names (the worker sends the pushes).

    The patient's push waits out their quiet hours unless the alert is urgent."""
    addressees = recipients(alert["patient"], alert["notify"])
    if not addressees:
        return
    patient = User._get_collection().find_one(
        {"_id": alert["patient"]}, {"name": 1, "timezone": 1, "quiet_hours": 1}
    ) or {"_id": alert["patient"]}
    inbox = [
        _notification(alert, rule, patient, to, key_suffix=key_suffix, now=now) for to in addressees
    ]
    defer = None
    if alert["severity"] != "urgent":
        quiet = reminders.quiet_until(patient.get("timezone"), patient.get("quiet_hours"), now)
        defer = {patient["_id"]: quiet} if quiet else None
    delivery.deliver(
        inbox, names={to: patient.get("name") for to in addressees}, now=now, defer=defer
    )
