"""A job stuck past its hard time limit fails as soon as its worker kills it, whatever it was stuck in."""

from __future__ import annotations

from tests.support import celery_worker, job_body
from tests.workers.conftest import wait_for_status
from tests.workers.test_reliability import api, host_lock, submit  # noqa: F401  (host_lock is a fixture)


def test_a_job_stuck_past_the_hard_time_limit_fails_when_its_process_is_killed(
    private_env, account, sessions, host_lock, tmp_path
):
    env = {**private_env, "JOB_SOFT_TIME_LIMIT": "1", "JOB_HARD_TIME_LIMIT": "3"}
    host_lock.hold(account.account_id, "stuck-host")  # a wait on a lock, which the soft limit cannot interrupt
    client = api(env)
    job_id = submit(client, account, job_body(points=120, host="stuck-host"))
    with celery_worker(env, tmp_path):
        wait_for_status(sessions, job_id, ("failed", "succeeded"), timeout=20)
    shown = client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()
    assert (shown["status"], shown["error"]["type"]) == ("failed", "time_limit")
    assert shown["finished_at"] is not None
