"""A PostgreSQL restart or failover fails no job: workers wait the database out and run again what they had
claimed. Each test has a database of its own, whose connections it cuts (as a restart or failover does to its
clients) or refuses for a while, so the run's shared database is never touched."""

from __future__ import annotations

import time

import pytest

from tests.conftest import make_account
from tests.support import celery_worker, job_body
from tests.workers.conftest import wait_for_status
from tests.workers.test_reliability import HostLock, api, submit


@pytest.fixture
def host_lock(own_database):
    lock = HostLock(own_database.url)
    yield lock
    lock.connection.close()
    lock.engine.dispose()


def test_a_running_job_whose_database_connection_is_cut_is_claimed_again_and_finishes(
    private_env, own_database, host_lock, tmp_path
):
    env = {**private_env, "DATABASE_URL": own_database.url}
    account = make_account(own_database.sessions)
    host_lock.hold(account.account_id, "db-host")  # the job waits on it, running, until the cut frees it
    client = api(env)
    job_id = submit(client, account, job_body(points=120, host="db-host"))
    with celery_worker(env, tmp_path) as worker:
        wait_for_status(own_database.sessions, job_id, ("running",))
        own_database.cut_connections()
        done = wait_for_status(own_database.sessions, job_id, ("succeeded", "failed"), timeout=30)
    assert (done.status, done.attempts) == ("succeeded", 2), worker.log()[-3000:]
    # The API that took the job answers too: its pooled connections were cut with the rest, and are replaced.
    shown = client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()
    assert shown["status"] == "succeeded" and len(shown["result"]["host_score"]) == 120


@pytest.mark.parametrize("private_env", ["rabbitmq"], indirect=True)  # the retries are Celery's, on either broker
def test_jobs_wait_out_a_database_that_refuses_connections_for_longer_than_a_minute_of_retries(
    private_env, own_database, host_lock, tmp_path
):
    env = {**private_env, "DATABASE_URL": own_database.url}
    account = make_account(own_database.sessions)
    host_lock.hold(account.account_id, "db-host")
    client = api(env)
    running = submit(client, account, job_body(points=120, host="db-host"))
    with celery_worker(env, tmp_path) as worker:
        wait_for_status(own_database.sessions, running, ("running",))
        waiting = submit(client, account, job_body(points=120))  # the worker's only process is busy with the first
        with own_database.refusing_connections():
            time.sleep(35)  # longer than every retry of the earlier policy (five, at most 31 s in all)
        finished = [
            wait_for_status(own_database.sessions, job_id, ("succeeded", "failed"), timeout=60)
            for job_id in (running, waiting)
        ]
    assert [(job.status, job.attempts) for job in finished] == [("succeeded", 2), ("succeeded", 1)], worker.log()[
        -3000:
    ]
