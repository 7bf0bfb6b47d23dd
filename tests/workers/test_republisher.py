"""The re-publisher's round: after a broker outage every job it never got goes out at once, batch after batch;
jobs sent long ago and still waiting (they may be in the broker's queue) go one batch a round. The same round
deletes every finished job past its retention, batch after batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from config import Settings
from smartcompute.db import make_engine, make_session_factory
from smartcompute.jobs.models import Job
from tests.conftest import make_account
from tests.support import free_port, migrate, submit_directly
from workers import publishing
from workers.celery_app import CORE_QUEUE, create_celery_app
from workers.callback_tasks import publish_due_callbacks
from workers.runtime import job_lock_key
from workers.tasks import purge_expired_jobs, republish_jobs, requeue_abandoned_jobs


@pytest.fixture
def own_sessions(empty_database_url):
    """A database of this test's own: no other test's re-publisher sends its jobs."""
    migrate(empty_database_url, "head")
    engine = make_engine(empty_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def queued_jobs(sessions, count: int, *, published: str, callback_url: str | None = None) -> None:
    """`count` queued jobs, as the API leaves them, then dated: never sent (`published_at` NULL), or sent at
    `published` ago; each was created a minute ago, past the never-sent window."""
    account = make_account(sessions)
    with sessions() as session:
        for _ in range(count):
            submit_directly(session, account, callback_url=callback_url)
        session.execute(
            text(
                "UPDATE jobs SET created_at = now() - interval '1 minute', published_at = "
                + ("NULL" if published == "never" else f"now() - interval '{published}'")
            )
        )
        session.commit()


def never_sent(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.published_at.is_(None)))


def one_round(env: dict[str, str], sessions, publish=republish_jobs) -> tuple[int, int]:
    """A re-publisher round; how many jobs it sent, and how many messages the core queue then holds."""
    celery = create_celery_app(Settings.from_mapping(env))
    sent = publish(celery, sessions, publishing.republish_windows(celery, CORE_QUEUE))
    try:
        waiting = publishing._waiting_messages(celery, CORE_QUEUE)
    except Exception:  # an unreachable broker holds nothing we can count
        waiting = 0
    return sent, waiting


def test_after_an_outage_every_never_sent_job_goes_out_in_one_round(private_env, own_sessions, empty_database_url):
    queued_jobs(own_sessions, publishing.RESEND_BATCH * 2 + 34, published="never")

    sent, waiting = one_round({**private_env, "DATABASE_URL": empty_database_url}, own_sessions)

    assert sent == waiting == publishing.RESEND_BATCH * 2 + 34
    assert never_sent(own_sessions) == 0


def test_after_an_outage_every_finished_jobs_callback_is_sent_in_one_round(
    private_env, own_sessions, empty_database_url
):
    """Their workers could not send the callbacks' tasks as the jobs finished: the broker was down."""
    count = publishing.RESEND_BATCH + 70
    queued_jobs(own_sessions, count, published="10 minutes", callback_url="https://receiver.example/hook")
    with own_sessions() as session:
        session.execute(text("UPDATE jobs SET status = 'succeeded', finished_at = now() - interval '1 minute'"))
        session.commit()

    sent, waiting = one_round(
        {**private_env, "DATABASE_URL": empty_database_url}, own_sessions, publish=publish_due_callbacks
    )

    assert sent == waiting == count


def test_jobs_sent_long_ago_and_still_queued_go_again_one_batch_a_round(private_env, own_sessions, empty_database_url):
    queued_jobs(own_sessions, publishing.RESEND_BATCH + 100, published="2 hours")

    sent, waiting = one_round({**private_env, "DATABASE_URL": empty_database_url}, own_sessions)

    assert sent == waiting == publishing.RESEND_BATCH  # they may still be in the queue: no flood of duplicates


def test_jobs_the_broker_refused_in_a_round_all_stay_never_sent(base_env, own_sessions, empty_database_url):
    queued_jobs(own_sessions, 3, published="never")
    unreachable = f"amqp://guest:guest@127.0.0.1:{free_port()}//"

    sent, _ = one_round({**base_env, "DATABASE_URL": empty_database_url, "BROKER_URL": unreachable}, own_sessions)

    assert sent == 0
    assert never_sent(own_sessions) == 3  # the next round sends them after REPUBLISH_UNSENT_AFTER


def test_a_running_job_whose_delivery_is_gone_is_queued_again_and_sent(private_env, own_sessions, empty_database_url):
    """Claimed an hour ago, one job is held by no worker (its delivery gave up, or its message was lost); a live
    worker holds the other's lock."""
    queued_jobs(own_sessions, 2, published="1 hour")
    with own_sessions() as session:
        session.execute(
            text("UPDATE jobs SET status = 'running', attempts = 1, started_at = now() - interval '1 hour'")
        )
        session.commit()
        abandoned, held = session.scalars(select(Job.id).order_by(Job.id)).all()
    worker = make_engine(empty_database_url).connect()
    worker.execute(text("SELECT pg_advisory_lock(:key)"), {"key": job_lock_key(held)})
    try:
        assert requeue_abandoned_jobs(own_sessions, abandoned_after=timedelta(minutes=13)) == 1
        sent, waiting = one_round({**private_env, "DATABASE_URL": empty_database_url}, own_sessions)
    finally:
        worker.close()
    assert sent == waiting == 1
    with own_sessions() as session:
        rows = {job.id: job for job in session.scalars(select(Job))}
    assert (rows[abandoned].status, rows[abandoned].started_at) == ("queued", None)
    assert rows[held].status == "running"


def test_a_round_that_cannot_reach_the_database_says_so_and_blames_no_broker(base_env, caplog):
    unreachable = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/smartcompute")
    try:
        with pytest.raises(OperationalError, match="127.0.0.1"):
            one_round(base_env, make_session_factory(unreachable))
    finally:
        unreachable.dispose()
    assert "broker unavailable" not in caplog.text


def test_a_round_deletes_every_finished_job_past_its_retention(own_sessions):
    queued_jobs(own_sessions, 2345, published="never")
    with own_sessions() as session:
        session.execute(
            text(
                "UPDATE jobs SET status = 'succeeded', finished_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 day' WHERE id IN (SELECT id FROM jobs LIMIT 2300)"
            )
        )
        session.commit()

    assert purge_expired_jobs(own_sessions) == 2300
    with own_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 45  # the ones still queued are kept
