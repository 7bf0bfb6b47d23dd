"""Schemathesis over the whole OpenAPI document, authenticated: no 5xx, no response that breaks the schema,
no status the document does not list.

The suite runs a few examples per operation; a long run that reaches rarer inputs is the same test with more
(docs/security.md gives its count and time): `SCHEMATHESIS_EXAMPLES=500 .venv/bin/python -m pytest
tests/security/test_openapi_fuzz.py`."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.checks import not_a_server_error

EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def api_schema(app):
    # Logging out would end the fuzzer's own sign-in; it is covered in test_api2. An event stream answers for as
    # long as it lasts (EVENT_STREAM_MAX_SECONDS); tests/events covers them.
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", app).exclude(
        operation_id=["logout", "streamEvents", "streamJobEvents"]
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case, staff_owner_headers):
    case.call_and_validate(
        headers=staff_owner_headers,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance],
    )
