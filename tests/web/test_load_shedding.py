"""`POST /v1/jobs` under a backlog past the limits: 503 with Retry-After, lower priorities first, counted in
/metrics; a request repeated with its Idempotency-Key still gets the job it created. With LOAD_SHED_QUEUED_JOBS=4,
three queued jobs refuse low, normal and high jobs (their limits are 2, 3 and 3) and admit critical ones."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import make_account
from tests.support import job_body, submit_directly
from tests.web.test_metrics import basic, samples


def queued(own_database, count: int):
    """`count` queued `normal` jobs of a new account; the account."""
    account = make_account(own_database.sessions)
    with own_database.sessions() as session:
        for _ in range(count):
            submit_directly(session, account)
    return account


def api(base_env, own_database, auth: str = ""):
    """An API process of its own (it measures the backlog afresh), with a limit of four queued jobs."""
    from web import create_app

    env = {**base_env, "DATABASE_URL": own_database.url, "LOAD_SHED_QUEUED_JOBS": "4", "METRICS_BASIC_AUTH": auth}
    return create_app(env).test_client()


@pytest.fixture
def busy(base_env, own_database):
    """An API whose database already holds three queued `normal` jobs."""
    account = queued(own_database, 3)
    auth = f"prometheus:{secrets.token_urlsafe(8)}"
    return api(base_env, own_database, auth), account, auth


def test_a_job_behind_too_long_a_queue_is_refused_with_retry_after(busy):
    client, account, _ = busy
    response = client.post("/v1/jobs", json=job_body(priority="low"), headers=account.headers)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    problem = response.get_json()
    assert problem["type"] == "/problems/overloaded"
    assert problem["detail"].startswith("too much work is waiting: 3 jobs are queued (the limit for low jobs is 2)")


def test_a_critical_job_is_admitted_where_lower_priorities_are_refused(busy):
    client, account, _ = busy
    assert client.post("/v1/jobs", json=job_body(priority="high"), headers=account.headers).status_code == 503
    assert client.post("/v1/jobs", json=job_body(priority="critical"), headers=account.headers).status_code == 202


def test_a_repeated_request_gets_its_job_while_new_ones_are_refused(base_env, own_database):
    account = queued(own_database, 2)
    headers = {**account.headers, "Idempotency-Key": "upload-7"}
    first = api(base_env, own_database).post("/v1/jobs", json=job_body(), headers=headers)
    assert first.status_code == 202  # the third queued job
    client = api(base_env, own_database)
    assert client.post("/v1/jobs", json=job_body(), headers=account.headers).status_code == 503
    again = client.post("/v1/jobs", json=job_body(), headers=headers)
    assert again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]


def test_refusals_are_counted_by_priority_in_the_metrics(busy):
    client, account, auth = busy
    for priority in ("low", "normal", "normal"):
        client.post("/v1/jobs", json=job_body(priority=priority), headers=account.headers)
    counted = samples(client.get("/metrics", headers=basic(auth)))
    assert counted[("smartcompute_jobs_shed_total", (("priority", "normal"),))] == 2
    assert counted[("smartcompute_jobs_shed_total", (("priority", "low"),))] == 1
