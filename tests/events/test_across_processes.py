"""Fan-out across API processes: a job submitted through one API process and run by a real worker is followed,
status by status and incident by incident, on a stream opened on another process."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import make_account
from tests.events.conftest import submit
from tests.events.sse import EventSource, job_with_incidents, of_job, statuses
from tests.support import celery_worker, gunicorn_server


@pytest.fixture(scope="module")
def followed(api, events_env, sessions, tmp_path_factory) -> dict:
    """What a stream on a second API process saw of a job submitted through the first and run by a worker."""
    account, directory = make_account(sessions), tmp_path_factory.mktemp("across")
    with gunicorn_server(events_env, directory, threads=4) as other, celery_worker(events_env, directory):
        with EventSource(f"http://127.0.0.1:{other.port}/v1/events", account.headers, reconnect=True) as stream:
            job_id = submit(api, account.headers, job_with_incidents())
            events = stream.wait_for(lambda events: "succeeded" in statuses(events, job_id), 120, "the job to succeed")
    job = httpx.get(f"{api}/v1/jobs/{job_id}", headers=account.headers, timeout=30).json()
    return {"job": job, "events": events}


def test_each_status_of_a_job_submitted_through_one_process_reaches_a_stream_on_another(followed):
    assert statuses(followed["events"], followed["job"]["id"]) == ["queued", "running", "succeeded"]
    assert followed["job"]["status"] == "succeeded"


def test_the_incidents_of_a_finished_anomaly_job_are_events_of_their_own(followed):
    job_id, incidents = followed["job"]["id"], followed["job"]["result"]["incidents"]
    told = of_job(followed["events"], job_id, "incident.closed") + of_job(followed["events"], job_id, "incident.opened")
    assert sorted((event["event"], event["data"]["start"], event["data"]["end"]) for event in told) == sorted(
        (f"incident.{'opened' if incident['status'] == 'open' else 'closed'}", incident["start"], incident["end"])
        for incident in incidents
    )
    assert {"incident.opened", "incident.closed"} == {event["event"] for event in told}
    for event in told:
        assert event["data"]["metric"] == "cpu_percent" and event["data"]["severity"] and event["data"]["kind"]
