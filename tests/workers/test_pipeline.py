"""A job end to end through a real broker and worker: API -> broker -> worker -> PostgreSQL -> poll."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from smartcompute.jobs.models import HostBaseline
from tests.support import job_body, submit_directly, wait_until
from tests.workers.conftest import wait_for_status


def submit(client, account, body, **headers):
    response = client.post("/v1/jobs", json=body, headers={**account.headers, **headers})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def poll(client, account, job_id, timeout=30):
    return wait_until(
        lambda: (
            (job := client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json())["status"]
            not in ("queued", "running")
            and job
        ),
        timeout,
        f"job {job_id} to finish",
    )


@pytest.mark.parametrize("job_type", ["anomaly_detection", "threat_analysis", "performance_analysis"])
def test_a_job_runs_to_succeeded_and_its_result_is_polled(broker_client, shared_worker, account, job_type):
    job = submit(broker_client, account, job_body(job_type, points=300))
    done = poll(broker_client, account, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1 and done["started_at"] and done["finished_at"]
    assert done["result"]


def test_an_anomaly_result_scores_every_point_of_every_metric(broker_client, shared_worker, account):
    job = submit(broker_client, account, job_body("anomaly_detection", points=250))
    result = poll(broker_client, account, job["id"])["result"]
    assert set(result["scores"]) == {"cpu_percent", "memory_percent"}
    assert all(len(scores) == 250 and all(0 <= s <= 1 for s in scores) for scores in result["scores"].values())
    assert len(result["host_score"]) == 250


def test_the_task_id_is_the_job_id_and_the_request_id_reaches_the_worker_log(broker_client, shared_worker, account):
    request_id = f"trace-{uuid.uuid4().hex}"
    job = submit(broker_client, account, job_body(points=100), **{"X-Request-ID": request_id})
    poll(broker_client, account, job["id"])
    lines = [json.loads(line) for line in shared_worker.log().splitlines() if line.startswith("{")]
    started = [line for line in lines if line.get("message") == "job started" and line.get("job_id") == job["id"]]
    assert started and started[0]["request_id"] == request_id


def test_a_job_for_a_host_leaves_a_baseline_the_next_job_continues_from(
    broker_client, shared_worker, account, sessions
):
    host = f"host-{uuid.uuid4().hex[:6]}"
    first = submit(broker_client, account, job_body(points=200, host=host))
    poll(broker_client, account, first["id"])
    second = submit(broker_client, account, job_body(points=200, host=host, seed=8))
    poll(broker_client, account, second["id"])
    with sessions() as session:
        baseline = session.scalar(select(HostBaseline).where(HostBaseline.host == host))
    assert baseline.account_id == account.account_id
    assert str(baseline.job_id) == second["id"]


def test_a_queued_job_with_data_the_engine_refuses_fails_with_the_field(broker_app, shared_worker, account, sessions):
    """The API refuses a percentage over 100 before queueing; a job that holds one anyway (queued by an older
    API, or written by another tool) fails with the engine's field-level message, never a crash."""
    from web.runtime import web_runtime
    from workers.publishing import publish_job

    data = job_body("performance_analysis", points=60)["data"]
    data["metrics"]["cpu_percent"][7] = 250.0
    with sessions() as session:
        job_id = submit_directly(session, account, scopes=("jobs:write",), job_type="performance_analysis", data=data)
    with broker_app.app_context():
        publish_job(web_runtime().celery, job_id, "normal", None)
    failed = wait_for_status(sessions, job_id, ("failed", "succeeded"))
    assert failed.status == "failed"
    assert failed.error["type"] == "invalid_data"
    assert failed.error["fields"][0]["field"] == "data.metrics.cpu_percent[7]"
