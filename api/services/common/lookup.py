"""Finding one of a patient's documents by the id a client sent."""

from bson import ObjectId
from bson.errors import InvalidId

from api.errors import NotFound


def patients(document, patient_id: ObjectId, document_id: str):
    """The patient's `document` with this id; 404 when there is none, for a malformed id as
    for another patient's (no hint that it exists)."""
    try:
        found = document.objects(pk=ObjectId(document_id), patient=patient_id).first()
    except (InvalidId, TypeError):
        found = None
    if found is None:
        raise NotFound()
    return found
