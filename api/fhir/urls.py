"""Where the FHIR API lives, as clients must see it (absolute: links and fullUrls)."""

from flask import request

BASE_PATH = "/fhir/R4"


def fhir_base_url() -> str:
    """The absolute base, from the request (behind proxies, ProxyFix has set the host)."""
    return request.url_root.rstrip("/") + BASE_PATH
