"""A callback is not lost when the worker sending it dies: it is sent again once its lease runs out."""

from __future__ import annotations

import os
import signal

from tests.receiver import Receiver
from tests.support import celery_worker, job_body, wait_until
from tests.workers.conftest import LOCAL_CALLBACKS
from web import create_app


def test_a_worker_killed_while_sending_a_callback_leaves_it_to_be_sent_again(private_env, account, tmp_path):
    env = {**private_env, **LOCAL_CALLBACKS, "CALLBACK_TIMEOUT_SECONDS": "2"}
    client = create_app(env).test_client()
    with Receiver(delay=1.5) as receiver:
        response = client.post(
            "/v1/jobs", json={**job_body(points=60), "callback_url": receiver.url}, headers=account.headers
        )
        job_id = response.get_json()["id"]
        with celery_worker(env, tmp_path, name="doomed") as doomed:
            wait_until(lambda: receiver.received, 30, "the first attempt to reach the receiver")
            os.killpg(doomed.process.pid, signal.SIGKILL)  # while the receiver is still answering
            doomed.process.wait(10)
        job = client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()
        assert job["status"] == "succeeded" and job["callback"]["status"] == "pending"
        assert job["callback"]["attempts"] == 1 and job["callback"]["last_status"] is None
        with celery_worker(env, tmp_path, name="survivor", scheduler=True):
            wait_until(
                lambda: (
                    client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()["callback"]["status"]
                    == "delivered"
                ),
                45,
                "the callback to be sent again",
            )
    assert [received.headers["webhook-id"] for received in receiver.received] == [job_id, job_id]
    assert client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()["callback"]["attempts"] == 2
