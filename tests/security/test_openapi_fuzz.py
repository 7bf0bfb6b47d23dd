"""Schemathesis over the whole OpenAPI document, authenticated: no 5xx, no response that breaks the schema,
no status the document does not list."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                              status_code_conformance)
from schemathesis.checks import not_a_server_error

from smartcompute.accounts.models import User
from tests.conftest import make_account
from tests.security.conftest import sign_in

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def fuzz_headers(app, sessions) -> dict[str, str]:
    """A staff owner signed in with a JWT: every operation is reachable."""
    owner = make_account(sessions)
    with sessions() as session:
        session.get(User, owner.user_id).is_staff = True
        session.commit()
    return {"Authorization": f"Bearer {sign_in(app.test_client(), owner)['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(app):
    # Logging out would end the fuzzer's own sign-in; it is covered in test_api2.
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", app).exclude(operation_id="logout")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance,
                                   status_code_conformance])
