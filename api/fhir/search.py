"""Read and search: the access rule first, then the records, then a Bundle or a resource.

Pages are keyset pages: a small type is sorted by id and the next page starts after the last
id returned; Observations walk the entries by (date, _id) (`fhir_observations`). The next
link carries that position, and every other parameter as given.
"""

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import request

from api.access import Need, patient_scope, readable_patients
from api.errors import NotFound
from api.fhir import params
from api.fhir.outcome import FhirError, bad_parameter
from api.fhir.types import PATIENT_SYSTEM, TYPES, ResourceType, observation_measures
from api.fhir.urls import fhir_base_url
from api.services.records import fhir_observations, fhir_read, fhir_values
from api.services.records.fhir_read import Found

_ID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


def resource_type(kind: str) -> ResourceType:
    found = TYPES.get(kind)
    if found is None:
        raise FhirError(404, f"Resource type '{kind[:60]}' is not served here.")
    return found


def with_meta(found: Found) -> dict:
    """The resource with `meta`: a version that changes with its content, and when it did."""
    text = json.dumps(found.resource, sort_keys=True, separators=(",", ":"))
    meta = {"versionId": hashlib.sha256(text.encode()).hexdigest()[:16]}
    if found.updated is not None:
        meta["lastUpdated"] = fhir_values.instant(found.updated)
    return {**found.resource, "meta": meta}


def _valid_id(rid: str) -> bool:
    return 0 < len(rid) <= 64 and set(rid) <= _ID


def read(kind: str, rid: str, now: datetime) -> tuple[dict, Found]:
    resource_kind = resource_type(kind)
    found = resource_kind.read(rid, now) if _valid_id(rid) else None
    if found is None:
        raise FhirError(404, f"{kind}/{rid[:64]} is not known.")
    patient_scope(str(found.patient_id), Need.VIEW, now=now)
    return with_meta(found), found


def _visible(found: list[Found], now: datetime) -> list[Found]:
    """Those the caller may read (the rest are left out, as if absent), access logged."""
    allowed: dict = {}
    for item in found:
        if item.patient_id not in allowed:
            try:
                patient_scope(str(item.patient_id), Need.VIEW, now=now)
                allowed[item.patient_id] = True
            except NotFound:
                allowed[item.patient_id] = False
    return [item for item in found if allowed[item.patient_id]]


def _by_ids(kind: ResourceType, ids: list[str], now: datetime) -> list[Found]:
    found = [kind.read(rid, now) for rid in dict.fromkeys(ids) if _valid_id(rid)]
    return _visible([f for f in found if f is not None], now)


def _patient_ids(args, who) -> list[str] | None:
    """Patient?identifier=urn:carepact:patient|<id>: our identifier is the id."""
    wanted = params.tokens(args, "identifier")
    if wanted is None:
        return None
    return [t.code for t in wanted if t.system in (None, PATIENT_SYSTEM) and t.code]


def _patient_of_search(args, who) -> str:
    pid = params.patient(args)
    if pid is not None:
        return pid
    if who.role == "patient":
        return str(who.id)
    raise bad_parameter("patient", "is required: search one patient's records at a time.")


def _readable_patients(kind: ResourceType, who, count: int, cursor: dict | None, now):
    """Every patient the caller may read, by id: only the page's are loaded and admitted."""
    candidates = sorted(str(pid) for pid in readable_patients(who, now))
    after = params.cursor_field(cursor, "after", str) if cursor else None
    rest = [c for c in candidates if c > after] if after else candidates
    page = _by_ids(kind, rest[:count], now)
    more = count > 0 and len(rest) > count
    return page, ({"after": rest[count - 1]} if more else None), len(candidates)


def _page_by_id(found: list[Found], count: int, cursor: dict | None):
    found = sorted(found, key=lambda f: f.resource["id"])
    after = params.cursor_field(cursor, "after", str) if cursor else None
    rest = [f for f in found if f.resource["id"] > after] if after else found
    page = rest[:count]
    more = count > 0 and len(rest) > count
    return page, ({"after": page[-1].resource["id"]} if more else None), len(found)


def _observations(args, pid, count: int, cursor: dict | None, now: datetime):
    start, end = params.dates(args)
    wanted, cgm = observation_measures(args)
    descending = params.sort(args)
    if wanted == [] and not cgm:
        return [], None, 0
    query = fhir_observations.Search(pid, wanted, start, end, descending, cgm)
    position = None
    if cursor:
        position = fhir_observations.Position(
            params.cursor_field(cursor, "t", datetime),
            params.cursor_field(cursor, "id", str),
            params.cursor_field(cursor, "w", timedelta),
        )
    total = cursor.get("n") if cursor and isinstance(cursor.get("n"), int) else None
    if total is None:
        total = fhir_observations.total(query)
    entries, after = fhir_observations.page(query, count=count, position=position, now=now)
    found = fhir_read.observations(entries, pid, now)
    following = None
    if after is not None:
        following = {
            "t": after.at.isoformat(),
            "id": str(after.entry_id),
            "w": after.window.total_seconds(),
            "n": total,
        }
    return found, following, total


def search(kind: str, who, now: datetime) -> dict:
    resource_kind = resource_type(kind)
    args = request.args
    params.check_known(args, resource_kind.allowed)
    count = params.count(args)
    params.total_mode(args)
    cursor = params.cursor(args)
    matchers = resource_kind.matcher(args)
    ids = params.ids(args)
    if kind == "Patient":
        by_identifier = _patient_ids(args, who)
        ids = by_identifier if ids is None else ids
    if kind == "Patient" and ids is None:
        page, following, total = _readable_patients(resource_kind, who, count, cursor, now)
    elif ids is not None:
        found = _by_ids(resource_kind, ids, now)
        if kind != "Patient" and params.patient(args) is not None:
            found = [f for f in found if str(f.patient_id) == params.patient(args)]
        found = [f for f in found if all(m(f.resource) for m in matchers)]
        page, following, total = _page_by_id(found, count, cursor)
    elif kind == "Observation":
        scope = patient_scope(_patient_of_search(args, who), Need.VIEW, now=now)
        page, following, total = _observations(args, scope.patient_id, count, cursor, now)
    else:
        scope = patient_scope(_patient_of_search(args, who), Need.VIEW, now=now)
        found = resource_kind.gather(scope.patient_id, now)
        found = [f for f in found if all(m(f.resource) for m in matchers)]
        page, following, total = _page_by_id(found, count, cursor)
    return searchset(kind, page, total, following, now)


def searchset(kind: str, page: list[Found], total: int, following: dict | None, now) -> dict:
    base = fhir_base_url()
    query = request.query_string.decode("utf-8", "replace")
    links = [{"relation": "self", "url": f"{base}/{kind}" + (f"?{query}" if query else "")}]
    if following is not None:
        kept = [(k, v) for k, v in request.args.items(multi=True) if k != "_cursor"]
        kept.append(("_cursor", params.encode_cursor(following)))
        links.append({"relation": "next", "url": f"{base}/{kind}?{urlencode(kept)}"})
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": fhir_values.instant(now)},
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if page:
        bundle["entry"] = [
            {
                "fullUrl": fhir_values.full_url(item.resource, base),
                "resource": with_meta(item),
                "search": {"mode": "match"},
            }
            for item in page
        ]
    return bundle
