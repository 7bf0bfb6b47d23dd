"""`/metrics`: the operator's gauges for Prometheus, from PostgreSQL, behind basic auth."""

from __future__ import annotations

import base64
import math
import re
import secrets

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from smartcompute import maintenance
from tests.support import submit_directly, telemetry


@pytest.fixture
def metrics_auth() -> str:
    return f"prometheus:{secrets.token_urlsafe(12)}"


@pytest.fixture
def metrics_client(base_env, metrics_auth):
    from web import create_app

    return create_app({**base_env, "METRICS_BASIC_AUTH": metrics_auth}).test_client()


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def samples(response) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def queued_job(sessions, account) -> None:
    """A job left queued: submitted but never sent to a broker, so no worker of the run can start it."""
    with sessions() as session:
        submit_directly(session, account, scopes=("jobs:write",), job_type="threat_analysis", priority="low")


def test_metrics_are_off_unless_credentials_are_configured(client):
    response = client.get("/metrics")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("credentials", [None, "prometheus:wrong", "other:user"])
def test_metrics_need_the_configured_credentials(metrics_client, credentials):
    response = metrics_client.get("/metrics", headers=basic(credentials) if credentials else {})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")


def test_metrics_count_the_jobs_waiting_by_type_and_status(metrics_client, metrics_auth, sessions, account):
    key = ("smartcompute_jobs", (("status", "queued"), ("type", "threat_analysis")))
    before = samples(metrics_client.get("/metrics", headers=basic(metrics_auth)))
    queued_job(sessions, account)
    response = metrics_client.get("/metrics", headers=basic(metrics_auth))
    assert response.status_code == 200 and response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    after = samples(response)
    assert after[key] == before[key] + 1
    assert after[("smartcompute_oldest_queued_job_age_seconds", ())] >= 0
    for name in ("smartcompute_job_callbacks", "smartcompute_dead_payment_events", "smartcompute_payments_in_review"):
        assert any(sample_name == name for sample_name, _ in after)


def test_metrics_say_how_long_ago_each_scheduled_round_finished(base_env, metrics_auth, own_database):
    """What an operator alerts on when no scheduler runs: a round that never finished is +Inf."""
    from web import create_app

    env = {**base_env, "DATABASE_URL": own_database.url, "METRICS_BASIC_AUTH": metrics_auth}
    client = create_app(env).test_client()
    with own_database.sessions() as session:
        maintenance.record_finished(session, maintenance.REPUBLISH_JOBS)
        session.execute(text("UPDATE maintenance_rounds SET finished_at = now() - interval '90 seconds'"))
        session.commit()
    ages = {
        dict(labels)["round"]: value
        for (name, labels), value in samples(client.get("/metrics", headers=basic(metrics_auth))).items()
        if name == "smartcompute_maintenance_round_age_seconds"
    }
    assert set(ages) == set(maintenance.ROUNDS)
    assert 90 <= ages[maintenance.REPUBLISH_JOBS] < 120
    assert ages[maintenance.EXPIRE_PAYMENTS] == math.inf


def test_every_gauge_has_help_and_a_type(metrics_client, metrics_auth):
    text = metrics_client.get("/metrics", headers=basic(metrics_auth)).get_data(as_text=True)
    names = set(re.findall(r"^# TYPE (\S+) gauge$", text, re.M))
    assert names == {
        "smartcompute_jobs",
        "smartcompute_oldest_queued_job_age_seconds",
        "smartcompute_job_callbacks",
        "smartcompute_dead_payment_events",
        "smartcompute_payments_in_review",
        "smartcompute_maintenance_round_age_seconds",
    }
    assert all(f"# HELP {name} " in text for name in names)


def test_requests_are_counted_by_route_template_and_status(metrics_client, metrics_auth, account):
    job_id = metrics_client.post(
        "/v1/jobs", json={"type": "threat_analysis", "data": telemetry(10)}, headers={"X-API-Key": account.api_key}
    ).get_json()["id"]
    metrics_client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": account.api_key})
    metrics_client.get("/no/such/page")
    after = samples(metrics_client.get("/metrics", headers=basic(metrics_auth)))
    assert (
        after[("smartcompute_http_requests_total", (("method", "POST"), ("route", "/v1/jobs"), ("status", "202")))] == 1
    )
    assert (
        after[
            ("smartcompute_http_requests_total", (("method", "GET"), ("route", "/v1/jobs/<job_id>"), ("status", "200")))
        ]
        == 1
    )
    assert (
        after[("smartcompute_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    )
    assert after[("smartcompute_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/jobs")))] == 1
    assert not any(job_id in str(labels) for _, labels in after)
