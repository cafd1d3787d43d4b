"""The CapabilityStatement at /fhir/R4/metadata: what this server does, read from `TYPES`."""

from api.fhir.types import TYPES

SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
RELEASED = "2026-12-07"


def _resource(kind) -> dict:
    search_params = [
        {"name": name, "type": kind_of}
        for name, kind_of in kind.search_params.items()
        if kind_of != "special"
    ]
    entry = {
        "type": kind.name,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "conditionalRead": "not-match",
        "searchParam": search_params,
    }
    if "_sort" in kind.search_params:
        entry["documentation"] = "_sort=date (oldest first) or -date (newest first, default)."
    return entry


def statement(base: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "CarePact",
        "kind": "instance",
        "software": {"name": "CarePact"},
        "implementation": {"description": "CarePact FHIR R4 read API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Searches page by `next` links; _count at most 1000.",
                "security": {
                    "extension": [
                        {
                            "url": SMART_OAUTH_URIS,
                            "extension": [{"url": "token", "valueUri": f"{base}/auth/token"}],
                        }
                    ],
                    "service": [{"coding": [{"system": SECURITY_SERVICE, "code": "OAuth"}]}],
                    "description": "A CarePact bearer token (patients, providers, caregivers), "
                    "or a clinic system client's token from the OAuth 2.0 client credentials "
                    "grant at auth/token.",
                },
                "resource": [_resource(kind) for kind in TYPES.values()],
            }
        ],
    }
