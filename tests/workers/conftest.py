"""Fixtures for tests that need real workers: each runs against Redis and against RabbitMQ."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import select

from smartcompute.jobs.models import Job
from tests.conftest import RABBITMQ_URL
from tests.support import celery_worker, wait_until

FAST_REPUBLISH = {"REPUBLISH_INTERVAL": "1", "REPUBLISH_UNSENT_AFTER": "1"}
# The tests' callback receivers listen on 127.0.0.1.
LOCAL_CALLBACKS = {"CALLBACK_PRIVATE_NETWORKS": "true"}


@pytest.fixture(scope="session", params=["redis", "rabbitmq"])
def broker_env(request, base_env, rabbitmq_env) -> dict[str, str]:
    return {**(base_env if request.param == "redis" else rabbitmq_env), **FAST_REPUBLISH, **LOCAL_CALLBACKS}


@pytest.fixture(params=["redis", "rabbitmq"])
def private_env(request, base_env):
    """The run's database, with a broker namespace no other worker listens on (a fresh Redis key prefix or
    RabbitMQ vhost), for tests that kill workers and count redeliveries."""
    env = {**base_env, **FAST_REPUBLISH, "BROKER_VISIBILITY_TIMEOUT": "3"}
    if request.param == "redis":
        yield {**env, "BROKER_KEY_PREFIX": f"{base_env['BROKER_KEY_PREFIX']}{uuid.uuid4().hex[:8]}:"}
        return
    vhost = f"smartcompute_test_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield {**env, "BROKER_URL": f"{RABBITMQ_URL}/{vhost}"}
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


@pytest.fixture(scope="session")
def broker_app(broker_env):
    from web import create_app

    return create_app(broker_env)


@pytest.fixture
def broker_client(broker_app):
    return broker_app.test_client()


@pytest.fixture(scope="session")
def shared_worker(broker_env, tmp_path_factory):
    """One worker (with the re-publisher) per broker for the tests that only need jobs to run."""
    with celery_worker(broker_env, tmp_path_factory.mktemp("worker"), concurrency=2, scheduler=True) as worker:
        yield worker


def job_row(sessions, job_id) -> Job:
    with sessions() as session:
        return session.scalar(select(Job).where(Job.id == job_id))


def wait_for_status(sessions, job_id, statuses: tuple[str, ...], timeout: float = 30) -> Job:
    return wait_until(
        lambda: (row := job_row(sessions, job_id)) is not None and row.status in statuses and row,
        timeout,
        f"job {job_id} to reach {statuses}",
    )
