"""Validation against HL7's FHIR R4 (4.0.1) JSON schema (tests/data/fhir-r4), with `jsonschema`.

A resource is checked against its own definition. A Bundle is checked against Bundle's, with
`ResourceList` (a oneOf over all 146 resource definitions, which `jsonschema` would try one by
one for every entry) swapped for "any object", and then each entry's resource against its own
definition: since every definition fixes `resourceType` to one constant, exactly one branch
of that oneOf can match, so the two checks together are the schema's.

The vendored file is HL7's R4 schema as built for 4.0.0 (see its README): the one place
4.0.1 shows in it, the value set of `fhirVersion`, lacks "4.0.1", so that is added on load.
"""

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft6Validator

SCHEMA_FILE = Path(__file__).parent / "data" / "fhir-r4" / "fhir.schema.json"


@cache
def _definitions() -> dict:
    definitions = json.loads(SCHEMA_FILE.read_text())["definitions"]
    for field in _fhir_version_fields(definitions):
        if "4.0.1" not in field["enum"]:
            field["enum"].append("4.0.1")
    return definitions


def _fhir_version_fields(definitions: dict) -> list[dict]:
    return [
        prop
        for definition in definitions.values()
        for name, prop in (definition.get("properties") or {}).items()
        if name == "fhirVersion" and "enum" in prop
    ] + [
        prop["items"]
        for definition in definitions.values()
        for name, prop in (definition.get("properties") or {}).items()
        if name == "fhirVersion" and "enum" in prop.get("items", {})
    ]


@cache
def _validator(kind: str, shallow: bool) -> Draft6Validator:
    definitions = _definitions()
    if kind not in definitions or "properties" not in definitions[kind]:
        raise AssertionError(f"{kind} is not an R4 resource type")
    if shallow:
        definitions = {**definitions, "ResourceList": {"type": "object"}}
    return Draft6Validator({"$ref": f"#/definitions/{kind}", "definitions": definitions})


def _check(validator: Draft6Validator, document: dict, where: str) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5])
        raise AssertionError(f"{where} is not valid FHIR R4: {shown}")


def validate(document: dict) -> dict:
    """Raise AssertionError unless `document` (a resource or a Bundle) is valid R4."""
    kind = document.get("resourceType")
    if not isinstance(kind, str):
        raise AssertionError("no resourceType")
    if kind != "Bundle":
        _check(_validator(kind, False), document, kind)
        return document
    _check(_validator("Bundle", True), document, "Bundle")
    for n, entry in enumerate(document.get("entry") or []):
        resource = entry["resource"]
        _check(_validator(resource["resourceType"], False), resource, f"Bundle.entry[{n}]")
    return document
