"""Fixtures for tests that need real workers: each runs against Redis and against RabbitMQ."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from smartcompute.jobs.models import Job
from tests.support import celery_worker, wait_until

FAST_REPUBLISH = {"REPUBLISH_INTERVAL": "1", "REPUBLISH_UNSENT_AFTER": "1"}


@pytest.fixture(scope="session", params=["redis", "rabbitmq"])
def broker_env(request, base_env, rabbitmq_env) -> dict[str, str]:
    return {**(base_env if request.param == "redis" else rabbitmq_env), **FAST_REPUBLISH}


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
    with celery_worker(broker_env, tmp_path_factory.mktemp("worker"), concurrency=2, beat=True) as worker:
        yield worker


def job_row(sessions, job_id) -> Job:
    with sessions() as session:
        return session.scalar(select(Job).where(Job.id == job_id))


def wait_for_status(sessions, job_id, statuses: tuple[str, ...], timeout: float = 30) -> Job:
    return wait_until(lambda: (row := job_row(sessions, job_id)) is not None and row.status in statuses and row,
                      timeout, f"job {job_id} to reach {statuses}")
