"""The FHIR R4 read API (`/fhir/R4`): a protocol adapter over the records' FHIR mapping
(`api.services.records.fhir`), behind the one access rule (`api.access`)."""

from api.fhir.routes import blp

__all__ = ["blp"]
