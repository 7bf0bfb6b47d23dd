"""API8 Security Misconfiguration: security headers everywhere, CORS closed by default, no debug output."""

from __future__ import annotations

import pytest

from web.security import SECURITY_HEADERS


@pytest.mark.parametrize("path", ["/health", "/v1/jobs", "/v1/nothing-here", "/docs", "/v1/openapi.json"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["Cache-Control"] == "no-store"


def test_cors_is_closed_unless_configured(client):
    response = client.get("/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/v1/jobs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_allows_only_the_configured_origins(make_app):
    client = make_app(CORS_ORIGINS="https://app.example.com").test_client()
    allowed = client.options(
        "/v1/jobs", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "X-API-Key" in allowed.headers["Access-Control-Allow-Headers"]
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/v1/openapi.json", headers={"Origin": "https://app.example.com.evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_wildcard_cors_origin_is_refused_at_start_up(base_env):
    from config import ConfigError, Settings

    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Settings.from_mapping({**base_env, "CORS_ORIGINS": "*"})


def test_an_unexpected_error_is_a_bare_problem_without_debug_output(make_app):
    app = make_app()
    assert not app.debug and not app.config["PROPAGATE_EXCEPTIONS"]

    @app.get("/v1/test-boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    response = app.test_client().get("/v1/test-boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert "Traceback" not in body and "hunter2" not in body and "RuntimeError" not in body


def test_trace_and_unknown_methods_are_refused(client):
    assert client.open("/v1/jobs", method="TRACE").status_code == 405


def test_the_openapi_document_declares_both_security_schemes_and_every_new_path(client):
    spec = client.get("/v1/openapi.json").get_json()
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert {
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/api-keys",
        "/v1/api-keys/{key_id}/rotate",
        "/v1/account/members",
        "/v1/admin/users",
        "/v1/admin/audit-events",
    } <= set(spec["paths"])
    assert spec["paths"]["/v1/admin/users"]["get"]["security"] == [{"Bearer": []}]
