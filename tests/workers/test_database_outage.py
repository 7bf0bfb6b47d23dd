"""A PostgreSQL restart or failover fails no job: workers wait the database out and run again what they had
claimed. Each test has a database of its own, whose connections it cuts (as a restart or failover does to its
clients) or refuses for a while, so the run's shared database is never touched."""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from smartcompute.db import make_session_factory
from tests.conftest import POSTGRES_ADMIN_URL, make_account
from tests.support import celery_worker, job_body, migrate
from tests.workers.conftest import wait_for_status
from tests.workers.test_reliability import HostLock, api, submit


class OwnDatabase:
    def __init__(self, url: str):
        self.url = url
        self.name = make_url(url).database
        # No pool: every look the test takes opens a connection of its own, so cutting them all costs it nothing.
        self.sessions = make_session_factory(create_engine(url, poolclass=NullPool))
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def cut_connections(self) -> None:
        """What a restart or failover does to every client: its session ends, with the locks it held."""
        with self.admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                               {"name": self.name})

    @contextmanager
    def refusing_connections(self):
        """Down: every session ends, and no new one is let in until the block ends."""
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false'))
        try:
            self.cut_connections()
            yield
        finally:
            with self.admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true'))


@pytest.fixture
def own_database(empty_database_url):
    migrate(empty_database_url, "head")
    database = OwnDatabase(empty_database_url)
    yield database
    database.admin.dispose()


@pytest.fixture
def host_lock(own_database):
    lock = HostLock(own_database.url)
    yield lock
    lock.connection.close()
    lock.engine.dispose()


def test_a_running_job_whose_database_connection_is_cut_is_claimed_again_and_finishes(
        private_env, own_database, host_lock, tmp_path):
    env = {**private_env, "DATABASE_URL": own_database.url}
    account = make_account(own_database.sessions)
    host_lock.hold(account.account_id, "db-host")  # the job waits on it, running, until the cut frees it
    job_id = submit(api(env), account, job_body(points=120, host="db-host"))
    with celery_worker(env, tmp_path) as worker:
        wait_for_status(own_database.sessions, job_id, ("running",))
        own_database.cut_connections()
        done = wait_for_status(own_database.sessions, job_id, ("succeeded", "failed"), timeout=30)
    assert (done.status, done.attempts) == ("succeeded", 2), worker.log()[-3000:]
    # A new API process: this one's pooled connection was cut too, and answers its next request 503 (Retry-After).
    shown = api(env).get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()
    assert shown["status"] == "succeeded" and len(shown["result"]["host_score"]) == 120


@pytest.mark.parametrize("private_env", ["rabbitmq"], indirect=True)  # the retries are Celery's, on either broker
def test_jobs_wait_out_a_database_that_refuses_connections_for_longer_than_a_minute_of_retries(
        private_env, own_database, host_lock, tmp_path):
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
        finished = [wait_for_status(own_database.sessions, job_id, ("succeeded", "failed"), timeout=60)
                    for job_id in (running, waiting)]
    assert [(job.status, job.attempts) for job in finished] == [("succeeded", 2), ("succeeded", 1)], \
        worker.log()[-3000:]
