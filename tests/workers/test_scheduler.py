"""The schedule runs in a scheduler process of its own (the Procfile's `scheduler`), one at a time however many
run: killing a worker's processes, or the scheduler itself, never leaves a job the broker never got unsent once
a scheduler runs again.

Each test has a database and a Redis key prefix of its own, so no other scheduler of the run sends its jobs.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from smartcompute import maintenance
from smartcompute.db import make_engine
from smartcompute.jobs.models import Job
from tests.support import celery_scheduler, celery_worker, wait_until
from tests.workers.conftest import FAST_REPUBLISH
from tests.workers.test_republisher import queued_jobs
from workers.runtime import round_lock_key
from workers.scheduling import STANDBY_SECONDS, one_round_at_a_time

SENT = "Scheduler: Sending due task"


@pytest.fixture
def env(base_env, own_database) -> dict[str, str]:
    return {
        **base_env,
        **FAST_REPUBLISH,
        "DATABASE_URL": own_database.url,
        "BROKER_KEY_PREFIX": f"{base_env['BROKER_KEY_PREFIX']}{uuid.uuid4().hex[:8]}:",
    }


def statuses(sessions) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Job.status)))


def all_succeeded(sessions, count: int) -> bool:
    return statuses(sessions) == ["succeeded"] * count


def never_sent_jobs(sessions, count: int) -> None:
    """Jobs the API stored while the broker refused them: only the re-publisher's round sends them."""
    queued_jobs(sessions, count, published="never")


def test_jobs_the_broker_never_got_are_sent_while_the_workers_processes_are_killed(env, own_database, tmp_path):
    """Kill every process of the worker's pool, as the OOM killer may: with the schedule in a process of its
    own, nothing else stops."""
    with celery_worker(env, tmp_path, concurrency=2, scheduler=True) as worker:
        for child in worker.child_pids():
            os.kill(child, signal.SIGKILL)
        never_sent_jobs(own_database.sessions, 3)
        wait_until(lambda: all_succeeded(own_database.sessions, 3), 60, "the jobs to be sent and run")


def test_jobs_the_broker_never_got_are_sent_once_a_killed_scheduler_is_replaced(env, own_database, tmp_path):
    with celery_worker(env, tmp_path, concurrency=1):
        with celery_scheduler(env, tmp_path) as scheduler:
            wait_until(lambda: SENT in scheduler.log(), 30, "the scheduler's first round")
            os.killpg(scheduler.process.pid, signal.SIGKILL)
            scheduler.process.wait(10)
        never_sent_jobs(own_database.sessions, 2)
        time.sleep(3)  # three rounds' time: with no scheduler, nothing sends them
        assert statuses(own_database.sessions) == ["queued", "queued"]
        with celery_scheduler(env, tmp_path):  # what the process manager does
            wait_until(lambda: all_succeeded(own_database.sessions, 2), 60, "the jobs to be sent and run")


def test_of_two_schedulers_one_sends_the_schedule_and_the_other_takes_over_when_it_dies(env, tmp_path):
    with (
        celery_scheduler(env, tmp_path, name="first") as first,
        celery_scheduler(env, tmp_path, name="second") as second,
    ):
        leader = wait_until(
            lambda: next((each for each in (first, second) if each.log().count(SENT) >= 3), None),
            30,
            "one scheduler to send three rounds",
        )
        standby = second if leader is first else first
        assert SENT not in standby.log()
        assert "standing by to take over" in standby.log()
        os.killpg(leader.process.pid, signal.SIGKILL)
        wait_until(lambda: SENT in standby.log(), STANDBY_SECONDS + 10, "the standby to take over")


@pytest.fixture
def private_rabbitmq():
    """A RabbitMQ node of the test's own, so the test can restart it (bench/chaos_services.py)."""
    from bench.chaos_services import PrivateRabbitMQ

    directory = Path(tempfile.mkdtemp(prefix="smartcompute-test-rabbitmq-"))
    directory.chmod(0o755)  # the node runs as the rabbitmq user
    rabbitmq = PrivateRabbitMQ(directory / "node")
    rabbitmq.start()
    yield rabbitmq
    rabbitmq.close()
    shutil.rmtree(directory, ignore_errors=True)


def test_the_rounds_go_on_after_rabbitmq_restarts(env, own_database, private_rabbitmq, tmp_path):
    """The scheduler's connection broke with the restart: it sends on a new one, rather than failing every round
    until it is restarted itself, which is what the chaos harness found it doing."""

    def round_age() -> float | None:
        with own_database.sessions() as session:
            return maintenance.seconds_since_finished(session)[maintenance.REPUBLISH_JOBS]

    env = {**env, "BROKER_URL": private_rabbitmq.url()}
    with celery_worker(env, tmp_path, scheduler=True):
        wait_until(lambda: round_age() is not None, 30, "a first round")
        private_rabbitmq.stop()
        private_rabbitmq.start()
        restarted = time.monotonic()
        wait_until(lambda: round_age() < time.monotonic() - restarted, 30, "a round after the restart", interval=0.5)


def test_a_round_started_while_another_runs_is_skipped_and_only_a_finished_round_is_recorded(own_database):
    engine = make_engine(own_database.url)
    other = engine.connect()
    try:
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": round_lock_key(maintenance.REPUBLISH_JOBS)})
        with one_round_at_a_time(engine, maintenance.REPUBLISH_JOBS) as ours:
            assert ours is False
        other.execute(text("SELECT pg_advisory_unlock_all()"))
        with pytest.raises(RuntimeError), one_round_at_a_time(engine, maintenance.REPUBLISH_JOBS) as ours:
            raise RuntimeError("the round failed")
        with engine.connect() as connection:
            assert maintenance.seconds_since_finished(connection)[maintenance.REPUBLISH_JOBS] is None
        with one_round_at_a_time(engine, maintenance.REPUBLISH_JOBS) as ours:
            assert ours is True
        with engine.connect() as connection:
            assert maintenance.seconds_since_finished(connection)[maintenance.REPUBLISH_JOBS] < 5
            locked = connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            assert locked.scalar() == 0  # the round gave its lock back
    finally:
        other.close()
        engine.dispose()
