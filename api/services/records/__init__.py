"""A patient's record out of CarePact: FHIR mapping, export, the visit report, erasure."""
