"""No accepted job is lost or run twice: SIGKILLed workers, a broker that is down or loses a message, priorities,
cancellation.

Each test gets a broker namespace of its own (a fresh Redis key prefix or RabbitMQ vhost) so no other
worker of the run can take its messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, select, text

from config import Settings
from smartcompute.jobs.models import HostBaseline
from tests.support import celery_worker, free_port, job_body, redis_server_command, wait_until
from tests.workers.conftest import FAST_REPUBLISH, job_row, wait_for_status
from workers import publishing
from workers.celery_app import CORE_QUEUE, create_celery_app
from workers.runtime import host_lock_key


def api(env):
    from web import create_app

    return create_app(env).test_client()


def submit(client, account, body) -> uuid.UUID:
    response = client.post("/v1/jobs", json=body, headers=account.headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return uuid.UUID(response.get_json()["id"])


class HostLock:
    """Holds a host's baseline lock so a job for that host stays running until the test lets go."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)
        self.connection = self.engine.connect()

    def hold(self, account_id, host) -> None:
        self.connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": host_lock_key(account_id, host)})
        self.connection.commit()

    def release(self) -> None:
        self.connection.execute(text("SELECT pg_advisory_unlock_all()"))
        self.connection.commit()


@pytest.fixture
def host_lock(database_url):
    lock = HostLock(database_url)
    yield lock
    lock.connection.close()
    lock.engine.dispose()


def test_a_worker_killed_mid_job_leaves_a_job_that_is_redelivered_and_finishes_once(
    private_env, account, sessions, host_lock, tmp_path
):
    host = f"host-{uuid.uuid4().hex[:6]}"
    host_lock.hold(account.account_id, host)
    job_id = submit(api(private_env), account, job_body(points=120, host=host))
    with celery_worker(private_env, tmp_path, name="doomed") as doomed:
        wait_for_status(sessions, job_id, ("running",))
        os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait(10)
    assert job_row(sessions, job_id).status == "running"
    with celery_worker(private_env, tmp_path, name="survivor"):
        wait_until(lambda: job_row(sessions, job_id).attempts >= 2, 45, "the job to be redelivered")
        host_lock.release()
        done = wait_for_status(sessions, job_id, ("succeeded", "failed"), timeout=30)
    assert done.status == "succeeded" and done.attempts == 2
    with sessions() as session:
        baseline = session.scalar(select(HostBaseline).where(HostBaseline.host == host))
    assert baseline.job_id == job_id


def test_a_critical_job_starts_before_a_backlog_of_low_jobs(private_env, account, sessions, tmp_path):
    client = api(private_env)
    backlog = [submit(client, account, job_body(points=400, priority="low")) for _ in range(8)]
    critical = submit(client, account, job_body(points=400, priority="critical"))
    with celery_worker(private_env, tmp_path, concurrency=1):
        for job_id in [*backlog, critical]:
            wait_for_status(sessions, job_id, ("succeeded",), timeout=60)
    started = {job_id: job_row(sessions, job_id).started_at for job_id in [*backlog, critical]}
    low_started_before_critical = sum(started[job_id] < started[critical] for job_id in backlog)
    # With prefetch 1, at most the one message fetched before the critical job was ranked can come first.
    assert low_started_before_critical <= 1


def test_a_job_canceled_while_queued_is_never_started(private_env, account, sessions, tmp_path):
    client = api(private_env)
    job_id = submit(client, account, job_body(points=50))
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=account.headers).status_code == 200
    follower = submit(client, account, job_body(points=50))
    with celery_worker(private_env, tmp_path, concurrency=1):
        wait_for_status(sessions, follower, ("succeeded",))
    row = job_row(sessions, job_id)
    assert row.status == "canceled" and row.started_at is None and row.attempts == 0


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of the test's own, so the test can stop and restart it."""
    port = free_port()
    args = redis_server_command(tmp_path, "--port", str(port))
    state = {"process": None}

    def start():
        state["process"] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(
            lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0,
            10,
            "private redis to start",
        )

    def stop():
        state["process"].terminate()
        state["process"].wait(10)

    start()
    yield port, start, stop
    if state["process"].poll() is None:
        stop()


def test_a_job_accepted_while_the_redis_broker_is_down_runs_once_it_is_back(
    base_env, private_redis, account, sessions, tmp_path
):
    port, start, stop = private_redis
    env = {
        **base_env,
        **FAST_REPUBLISH,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "BROKER_URL": f"redis://127.0.0.1:{port}/0",
    }
    client = api(env)
    stop()
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and "broker" in ready.get_json()["detail"]
    job_id = submit(client, account, job_body(points=80))
    assert job_row(sessions, job_id).published_at is None
    start()
    with celery_worker(env, tmp_path, scheduler=True):
        done = wait_for_status(sessions, job_id, ("succeeded",), timeout=60)
    assert done.attempts == 1


def test_a_job_accepted_while_rabbitmq_is_unreachable_runs_once_it_is_back(rabbitmq_env, account, sessions, tmp_path):
    unreachable = {**rabbitmq_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}
    job_id = submit(api(unreachable), account, job_body(points=80))
    assert job_row(sessions, job_id).status == "queued"
    assert job_row(sessions, job_id).published_at is None
    with celery_worker({**rabbitmq_env, **FAST_REPUBLISH}, tmp_path, scheduler=True):
        done = wait_for_status(sessions, job_id, ("succeeded",), timeout=60)
    assert done.attempts == 1


def waiting_jobs(env) -> int:
    return publishing._waiting_messages(create_celery_app(Settings.from_mapping(env)), CORE_QUEUE)


def test_a_job_whose_message_a_restarted_redis_lost_runs_once_a_worker_finds_the_queue_empty(
    base_env, private_redis, account, sessions, tmp_path
):
    port, start, stop = private_redis
    env = {
        **base_env,
        **FAST_REPUBLISH,
        "REPUBLISH_MISSING_AFTER": "1",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "BROKER_URL": f"redis://127.0.0.1:{port}/0",
    }
    job_id = submit(api(env), account, job_body(points=80))
    wait_until(lambda: waiting_jobs(env) == 1, 10, "the job's message in Redis")
    stop()
    start()  # it keeps nothing on disk: the message is gone, the job is still queued and marked sent
    assert waiting_jobs(env) == 0 and job_row(sessions, job_id).published_at is not None
    with celery_worker(env, tmp_path, scheduler=True):
        done = wait_for_status(sessions, job_id, ("succeeded",), timeout=60)
    assert done.attempts == 1


@pytest.mark.parametrize("private_env", ["rabbitmq"], indirect=True)
def test_a_job_whose_message_rabbitmq_lost_runs_once_a_worker_finds_the_queue_empty(
    private_env, account, sessions, tmp_path
):
    env = {**private_env, "REPUBLISH_MISSING_AFTER": "1"}
    job_id = submit(api(env), account, job_body(points=80))
    wait_until(lambda: waiting_jobs(env) == 1, 10, "the job's message in RabbitMQ")
    vhost = env["BROKER_URL"].rsplit("/", 1)[1]
    subprocess.run(["rabbitmqctl", "-q", "purge_queue", "-p", vhost, CORE_QUEUE], check=True, capture_output=True)
    with celery_worker(env, tmp_path, scheduler=True):
        done = wait_for_status(sessions, job_id, ("succeeded",), timeout=60)
    assert done.attempts == 1


def test_two_jobs_for_one_host_never_interleave_their_baseline_updates(
    private_env, account, sessions, host_lock, tmp_path
):
    """Both jobs start together and wait on the host; each then learns on top of the other's baseline."""
    host = f"host-{uuid.uuid4().hex[:6]}"
    host_lock.hold(account.account_id, host)
    client = api(private_env)
    first, second = (submit(client, account, job_body(points=120, host=host, seed=seed)) for seed in (1, 2))
    with celery_worker(private_env, tmp_path, concurrency=2):
        for job_id in (first, second):
            wait_for_status(sessions, job_id, ("running",))
        host_lock.release()
        for job_id in (first, second):
            wait_for_status(sessions, job_id, ("succeeded",))
    with sessions() as session:
        baseline = session.scalar(select(HostBaseline).where(HostBaseline.host == host))
    learned = {name: metric["points_seen"] for name, metric in baseline.state["metrics"].items()}
    assert learned == {"cpu_percent": 240, "memory_percent": 240}
