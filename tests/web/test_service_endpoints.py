"""Health checks, the OpenAPI document and the docs page."""

from __future__ import annotations


import pytest
from sqlalchemy import create_engine, text

from smartcompute.db import SCHEMA_REVISION
from tests.support import migrate
from web import create_app


def test_health_says_the_process_is_up(client):
    assert client.get("/health").get_json() == {"status": "ok"}


def test_ready_checks_database_broker_and_redis(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "broker": "ok", "redis": "ok"}


def test_ready_is_503_naming_what_is_down(settings):
    broken = settings.model_copy(
        update={"REDIS_URL": "redis://127.0.0.1:1/0", "BROKER_URL": "amqp://guest:guest@127.0.0.1:1//"}
    )
    response = create_app(broken).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "unavailable: broker, redis"
    assert response.get_json()["checks"]["database"] == "ok"


@pytest.mark.parametrize("revision", [None, "0013"], ids=["never-migrated", "one-behind"])
def test_ready_is_503_while_the_database_needs_migrations(settings, empty_database_url, revision):
    """An API that starts before its release step takes no traffic its queries would fail on."""
    if revision:
        migrate(empty_database_url, revision)
    empty = settings.model_copy(update={"DATABASE_URL": empty_database_url})
    response = create_app(empty).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["detail"] == "migrations pending: database"
    assert response.get_json()["checks"] == {"database": "migrations pending", "broker": "ok", "redis": "ok"}


def test_ready_on_a_database_a_newer_release_has_migrated(settings, empty_database_url):
    """During a rolling deploy the old instances keep serving once the new release's migrations have run."""
    migrate(empty_database_url, "head")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE alembic_version SET version_num = :newer"), {"newer": f"{int(SCHEMA_REVISION) + 1:04d}"}
        )
    engine.dispose()
    empty = settings.model_copy(update={"DATABASE_URL": empty_database_url})
    response = create_app(empty).test_client().get("/health/ready")
    assert response.status_code == 200


def test_the_openapi_document_is_3_1_and_describes_the_job_api(client):
    spec = client.get("/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel", "/v1/auth/token"} <= set(spec["paths"])
    job_request = spec["components"]["schemas"]["JobRequest"]
    assert set(job_request["required"]) == {"type", "data"}
    assert spec["components"]["schemas"]["Telemetry"]["properties"]["timestamps"]["minItems"] == 1


def test_the_openapi_request_schema_is_the_one_that_validates(client, account):
    """A body the document forbids (an extra property) is refused by the API with 422."""
    spec = client.get("/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["JobRequest"]["additionalProperties"] is False
    body = {"type": "anomaly_detection", "data": {"timestamps": [1], "metrics": {"cpu": [1]}}, "color": "red"}
    assert client.post("/v1/jobs", json=body, headers=account.headers).status_code == 422


def _operations(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_with_a_json_body_lists_the_body_errors(client):
    spec = client.get("/v1/openapi.json").get_json()
    for name, operation in _operations(spec):
        if "$ref" in str(operation.get("requestBody", {})):
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), name


def test_every_operation_with_query_parameters_lists_422(client):
    spec = client.get("/v1/openapi.json").get_json()
    for name, operation in _operations(spec):
        if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            assert "422" in operation["responses"], name


def test_every_operation_lists_what_the_server_refuses_before_it(client):
    """A request too slow to arrive, or whose line or header fields are too large, is answered by the edge
    (the shipped nginx: 408, 414, 431), whatever the path."""
    spec = client.get("/v1/openapi.json").get_json()
    for name, operation in _operations(spec):
        assert {"408", "414", "431"} <= set(operation["responses"]), name


def test_a_malformed_payment_request_and_a_bad_page_size_answer_documented_statuses(client, account):
    from tests.security.conftest import bearer, sign_in

    spec, owner = client.get("/v1/openapi.json").get_json(), bearer(sign_in(client, account)["access_token"])
    malformed = client.post("/v1/payments", data="{", content_type="application/json", headers=owner)
    too_many = client.get("/v1/payments?limit=101", headers=owner)
    assert (malformed.status_code, too_many.status_code) == (400, 422)
    assert str(malformed.status_code) in spec["paths"]["/v1/payments"]["post"]["responses"]
    assert str(too_many.status_code) in spec["paths"]["/v1/payments"]["get"]["responses"]


def test_the_docs_page_lists_every_operation(client):
    page = client.get("/docs").get_data(as_text=True)
    for operation in ("submitJob", "getJob", "listJobs", "cancelJob", "issueToken"):
        assert f'id="{operation}"' in page


def test_the_api_keeps_no_cookie_session(app, client, account):
    from flask import session

    submitted = client.post(
        "/v1/jobs",
        json={"type": "anomaly_detection", "data": {"timestamps": [1, 2, 3], "metrics": {"cpu": [1.0, 2.0, 3.0]}}},
        headers=account.headers,
    )
    assert submitted.status_code == 202
    assert "Set-Cookie" not in submitted.headers
    with app.test_request_context("/health"), pytest.raises(RuntimeError):
        session["user"] = "anyone"  # nothing may be kept in one, by mistake or otherwise
