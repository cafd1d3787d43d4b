"""Property-based fuzzing of every operation in the app's own OpenAPI document.

Each operation is called with generated valid and invalid data, as a patient and as a
provider on that patient's care team. Nothing may answer 5xx, and every response must match
its documented status codes, content type and schema. The fast tier runs in `make test`;
`make check-all` raises FUZZ_EXAMPLES for the slow tier (≥ 5,000 requests).
"""

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app

DOCUMENT = "/api/v1/openapi.json"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _operations() -> list[str]:
    """Every documented operation; reading the document needs no database."""
    document = create_app({"CAREPACT_ENV": "test"}).test_client().get(DOCUMENT).get_json()
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


@pytest.fixture
def world(factory):
    patient = factory.patient(timezone="America/Chicago")
    provider = factory.provider()
    factory.membership(patient, provider)
    agreement = factory.agreement(patient, provider)
    return {
        "path": {"pid": str(patient.pk), "aid": str(agreement.pk)},
        "callers": [factory.headers(patient), factory.headers(provider)],
    }


@pytest.mark.parametrize("operation_label", _operations())
def test_operation_answers_within_its_documented_contract(operation_label, app, world):
    method, path = operation_label.split(" ", 1)
    operation = schemathesis.openapi.from_wsgi(DOCUMENT, app)[path][method]
    fixed = {n: v for n, v in world["path"].items() if n in re.findall(r"{(\w+)}", path)}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def call_as_every_caller(case):
        for headers in world["callers"]:
            response = case.call(headers={**(case.headers or {}), **headers})
            case.validate_response(response, checks=CHECKS)

    call_as_every_caller()
