"""A care-team message as a FHIR R4 Communication (the rest of the mapping is in `fhir`)."""

from api.services.records import fhir


def communication(message, sender: dict | None) -> dict:
    """One message of the patient's care-team thread: who sent it, when, and the text."""
    resource = {
        "resourceType": "Communication",
        "id": fhir.resource_id(message.pk),
        "identifier": fhir.identifier("message", message.pk),
        "status": "completed",
        "subject": fhir.patient_ref(message.patient),
        "sent": fhir.instant(message.created_at),
        "sender": sender,
        "payload": [{"contentString": message.body}],
    }
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}
