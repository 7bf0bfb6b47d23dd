"""Each operation is declared once (web/routes.py): the view runs with what its declaration reads, answers only
what it declares, and the OpenAPI document says the same."""

from __future__ import annotations

import uuid

import pytest
from flask import Blueprint, Flask
from pydantic import BaseModel

from smartcompute.accounts.schemas import Accepted
from web.access import PUBLIC
from web.problems import register_problem_handlers
from web.routes import Reply, operation


class Echo(BaseModel):
    text: str


def _app_with(view_declaring: Blueprint) -> Flask:
    app = Flask(__name__)
    register_problem_handlers(app)
    app.register_blueprint(view_declaring)
    return app


def test_a_view_answering_another_model_than_declared_is_an_error_not_a_response():
    scratch = Blueprint("scratch", __name__)

    @operation(scratch, "GET", "/echo", "echo", "Echo", access=PUBLIC, responses={200: Reply("The echo", Echo)})
    def echo():
        return Accepted(detail="not an echo")

    response = _app_with(scratch).test_client().get("/echo")
    assert response.status_code == 500 and response.mimetype == "application/problem+json"


def test_a_declared_body_reaches_the_view_validated_and_its_answer_is_the_model_as_json():
    scratch = Blueprint("scratch", __name__)

    @operation(
        scratch, "POST", "/echo", "echo", "Echo", access=PUBLIC, body=Echo, responses={201: Reply("The echo", Echo)}
    )
    def echo(body: Echo) -> Echo:
        return Echo(text=body.text.upper())

    client = _app_with(scratch).test_client()
    assert client.post("/echo", json={"text": "hi"}).get_json() == {"text": "HI"}
    refused = client.post("/echo", json={"words": "hi"})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "text"


def test_every_path_variable_must_have_a_declared_type():
    with pytest.raises(TypeError, match="path variable"):
        operation(
            Blueprint("scratch", __name__),
            "GET",
            "/things/<thing_id>",
            "getThing",
            "A thing",
            access=PUBLIC,
            responses={200: Reply("The thing", Echo)},
        )


def test_a_bad_query_parameter_is_a_422_problem_naming_it(client, account):
    response = client.get("/v1/jobs?limit=101&status=done", headers=account.headers)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert {error["field"] for error in response.get_json()["errors"]} == {"limit", "status"}


def test_an_idempotency_key_longer_than_documented_is_a_422_naming_the_header(client, account):
    from tests.support import job_body

    documented = next(
        parameter
        for parameter in client.get("/v1/openapi.json").get_json()["paths"]["/v1/jobs"]["post"]["parameters"]
        if parameter["name"] == "Idempotency-Key"
    )
    too_long = "k" * (documented["schema"]["maxLength"] + 1)
    response = client.post("/v1/jobs", json=job_body(), headers={**account.headers, "Idempotency-Key": too_long})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"


def test_each_operation_documents_the_scope_its_view_checks(client, sessions):
    from tests.conftest import make_account

    analyst = make_account(sessions, role="analyst")
    spec = client.get("/v1/openapi.json").get_json()
    balance = spec["paths"]["/v1/billing/balance"]["get"]
    assert balance["security"] == [{"ApiKey": ["billing:read"]}, {"Bearer": ["billing:read"]}]
    assert "owners" in balance["description"] and "analysts" not in balance["description"]
    assert client.get("/v1/billing/balance", headers=analyst.headers).status_code == 403


def test_a_staff_plan_change_answers_the_account_as_documented_with_its_members(client, sessions, account):
    from smartcompute.accounts.models import User
    from tests.conftest import make_account
    from tests.security.conftest import bearer, sign_in

    staff = make_account(sessions)
    with sessions() as session:
        session.get(User, staff.user_id).is_staff = True
        session.commit()
    spec = client.get("/v1/openapi.json").get_json()
    documented = spec["components"]["schemas"]["AccountSummary"]["required"]
    response = client.patch(
        f"/v1/admin/accounts/{account.account_id}",
        json={"plan": "pro"},
        headers=bearer(sign_in(client, staff)["access_token"]),
    )
    assert response.status_code == 200 and set(documented) <= set(response.get_json())
    assert response.get_json()["members"] == 1 and uuid.UUID(response.get_json()["id"]) == account.account_id
