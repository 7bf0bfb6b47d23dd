"""Being told a job finished: API -> worker -> the customer's receiver, signed, once, retried until it answers."""

from __future__ import annotations

import json
import uuid

import standardwebhooks

from tests.receiver import Receiver
from tests.support import job_body, submit_directly, wait_until
from web.runtime import web_runtime
from workers.publishing import publish_job


def submit(client, account, url: str, body: dict | None = None, **headers) -> dict:
    response = client.post(
        "/v1/jobs", json={**(body or job_body(points=100)), "callback_url": url}, headers={**account.headers, **headers}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def callback_when(client, account, job_id: str, status: str, timeout: float = 30) -> dict:
    return wait_until(
        lambda: (
            (job := client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json())["callback"]["status"]
            == status
            and job
        ),
        timeout,
        f"the callback of {job_id} to be {status}",
    )


def verified(client, account, received) -> dict:
    secret = client.get("/v1/account/callback-secret", headers=account.headers).get_json()["secret"]
    return standardwebhooks.Webhook(secret).verify(received.body, received.headers)


def test_a_finished_job_is_told_to_the_receiver_once_signed(broker_client, shared_worker, account):
    request_id = f"cb-{uuid.uuid4().hex}"
    with Receiver() as receiver:
        job = submit(broker_client, account, receiver.url, **{"X-Request-ID": request_id})
        done = callback_when(broker_client, account, job["id"], "delivered")
    assert done["status"] == "succeeded" and done["callback"]["attempts"] == 1
    assert done["callback"]["last_status"] == 204
    [received] = receiver.received
    notification = verified(broker_client, account, received)
    assert notification["type"] == "job.finished" and received.headers["webhook-id"] == job["id"]
    assert notification["data"]["status"] == "succeeded" and notification["data"]["url"] == f"/v1/jobs/{job['id']}"
    assert received.path == "/hooks/jobs?team=7"
    # Sent by the worker that finished the job (it carries the request's id), not found later by the re-publisher.
    logged = [json.loads(line) for line in shared_worker.log().splitlines() if line.startswith("{")]
    assert any(line.get("message") == "callback delivered" and line.get("request_id") == request_id for line in logged)


def test_a_receiver_that_fails_is_tried_again_until_it_answers(broker_client, shared_worker, account):
    with Receiver((503, 200)) as receiver:
        job = submit(broker_client, account, receiver.url)
        done = callback_when(broker_client, account, job["id"], "delivered", timeout=45)
    assert done["callback"]["attempts"] == 2 and done["callback"]["last_status"] == 200
    assert [r.headers["webhook-id"] for r in receiver.received] == [job["id"], job["id"]]


def test_a_canceled_job_is_told_too(broker_app, broker_client, shared_worker, account, sessions):
    with Receiver() as receiver:
        with sessions() as session:  # queued but never sent to the broker, so no worker can start it first
            job_id = submit_directly(
                session, account, scopes=("jobs:write",), data=job_body()["data"], callback_url=receiver.url
            )
        canceled = broker_client.post(f"/v1/jobs/{job_id}/cancel", headers=account.headers)
        assert canceled.status_code == 200
        callback_when(broker_client, account, str(job_id), "delivered")
    assert json.loads(receiver.received[0].body)["data"]["status"] == "canceled"


def test_a_job_that_fails_is_told_with_its_error(broker_app, broker_client, shared_worker, account, sessions):
    data = job_body("performance_analysis", points=60)["data"]
    data["metrics"]["cpu_percent"][7] = 250.0  # refused by the API; queued here past it
    with Receiver() as receiver:
        with sessions() as session:
            job_id = submit_directly(
                session,
                account,
                scopes=("jobs:write",),
                job_type="performance_analysis",
                data=data,
                callback_url=receiver.url,
            )
        with broker_app.app_context():  # sent without saying it has a callback: the re-publisher finds it due
            publish_job(web_runtime().celery, job_id, "normal", None)
        callback_when(broker_client, account, str(job_id), "delivered")
    notification = json.loads(receiver.received[0].body)["data"]
    assert notification["status"] == "failed" and notification["error"]["type"] == "invalid_data"


def test_a_delivered_callback_is_sent_again_when_asked(broker_client, shared_worker, account):
    with Receiver() as receiver:
        job = submit(broker_client, account, receiver.url)
        callback_when(broker_client, account, job["id"], "delivered")
        again = broker_client.post(f"/v1/jobs/{job['id']}/callback/resend", headers=account.headers)
        assert again.status_code == 202
        wait_until(lambda: len(receiver.received) == 2, 30, "the callback to be sent again")
        done = callback_when(broker_client, account, job["id"], "delivered")
    assert done["callback"]["attempts"] == 1
    assert [verified(broker_client, account, r)["data"]["id"] for r in receiver.received] == [job["id"]] * 2


def _attempted(client, account, job_id: str) -> dict:
    return wait_until(
        lambda: (
            (job := client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json())["callback"]["attempts"] >= 1
            and job["callback"]["last_error"]
            and job
        ),
        30,
        f"the first attempt at the callback of {job_id}",
    )


def test_a_receiver_that_hangs_is_left_alone_for_a_while_its_callbacks_kept(broker_client, shared_worker, account):
    with Receiver(delay=6.0) as receiver:  # longer than the worker's 5 s timeout
        hanging = _attempted(broker_client, account, submit(broker_client, account, receiver.url)["id"])
        next_one = _attempted(broker_client, account, submit(broker_client, account, receiver.url)["id"])
        assert len(receiver.received) == 1  # the worker did not wait on it a second time
    assert hanging["callback"]["status"] == "pending" and "no answer" in hanging["callback"]["last_error"]
    assert next_one["callback"]["status"] == "pending"  # kept for its retries
    assert next_one["callback"]["last_error"].startswith("not tried")
