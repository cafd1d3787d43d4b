"""A care-team message as a FHIR R4 Communication (the rest of the mapping is in `fhir`)."""

from api.services.records import fhir_values


def communication(message, sender: dict | None) -> dict:
    """One message of the patient's care-team thread: who sent it, when, and the text."""
    resource = {
        "resourceType": "Communication",
        "id": fhir_values.resource_id(message.pk),
        "identifier": fhir_values.identifier("message", message.pk),
        "status": "completed",
        "subject": fhir_values.patient_ref(message.patient),
        "sent": fhir_values.instant(message.created_at),
        "sender": sender,
        "payload": [{"contentString": message.body}],
    }
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}
