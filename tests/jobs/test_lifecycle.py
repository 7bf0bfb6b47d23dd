"""The job lifecycle: each transition happens once, whoever races for it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from smartcompute.db import utcnow
from smartcompute.jobs import lifecycle
from smartcompute.jobs.models import Job
from tests.conftest import Account, make_account
from tests.support import submit_directly


@pytest.fixture
def job_id(sessions, account) -> uuid.UUID:
    return submit(sessions, account)


def submit(sessions, account: Account) -> uuid.UUID:
    with sessions() as session:
        return submit_directly(session, account)


def status(sessions, job_id) -> str:
    with sessions() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def test_a_claimed_job_is_running_and_counts_the_attempt(sessions, job_id):
    with sessions() as session:
        claimed = lifecycle.claim(session, job_id, max_attempts=3)
    assert claimed.attempt == 1 and status(sessions, job_id) == "running"


def test_a_result_is_stored_once(sessions, job_id):
    with sessions() as session:
        lifecycle.claim(session, job_id, max_attempts=3)
        assert lifecycle.succeed(session, job_id, {"n": 1})
        session.commit()
        assert not lifecycle.succeed(session, job_id, {"n": 2})
        session.commit()
        assert session.scalar(select(Job.result).where(Job.id == job_id)) == {"n": 1}


def completions(sessions, job_id) -> int:
    with sessions() as session:
        return session.scalar(select(Job.completions).where(Job.id == job_id))


def test_every_run_that_reaches_the_end_is_counted_even_when_its_outcome_is_dropped(sessions, job_id):
    """What the chaos harness checks: one run per job reaches its end; a second one shows as 2."""
    with sessions() as session:
        lifecycle.claim(session, job_id, max_attempts=3)
        lifecycle.succeed(session, job_id, {"n": 1})
        session.commit()
        assert completions(sessions, job_id) == 1
        assert not lifecycle.succeed(session, job_id, {"n": 2})  # a run that should never have happened
        session.commit()
    assert completions(sessions, job_id) == 2


def test_a_job_canceled_while_running_drops_its_result(sessions, job_id):
    with sessions() as session:
        lifecycle.claim(session, job_id, max_attempts=3)
        lifecycle.cancel(session, job_id)
        session.commit()
        assert not lifecycle.succeed(session, job_id, {"late": True})
        session.commit()
    assert status(sessions, job_id) == "canceled" and completions(sessions, job_id) == 1


def test_a_finished_job_cannot_be_claimed_or_canceled(sessions, job_id):
    with sessions() as session:
        lifecycle.claim(session, job_id, max_attempts=3)
        lifecycle.fail(session, job_id, {"type": "x", "message": "y"})
        session.commit()
        assert lifecycle.claim(session, job_id, max_attempts=3) is None
        with pytest.raises(lifecycle.JobAlreadyFinished):
            lifecycle.cancel(session, job_id)


def test_a_job_whose_worker_keeps_dying_fails_after_the_last_attempt(sessions, job_id):
    with sessions() as session:
        for _ in range(2):
            assert lifecycle.claim(session, job_id, max_attempts=2) is not None
        assert lifecycle.claim(session, job_id, max_attempts=2) is None
        job = session.scalar(select(Job).where(Job.id == job_id))
    assert job.status == "failed" and job.error["type"] == "worker_lost"


@pytest.fixture
def quiet_sessions(own_database):
    """Sessions of a database no scheduler watches: the run-long test workers' schedulers send every unsent job
    of the run's database within a second, and would take the jobs these tests look for."""
    return own_database.sessions


def test_an_unsent_job_is_due_for_publishing_once(quiet_sessions):
    sessions = quiet_sessions
    job_id = submit(sessions, make_account(sessions))
    with sessions() as session:
        lifecycle.mark_unpublished(session, job_id)
        session.execute(update(Job).where(Job.id == job_id).values(created_at=utcnow() - timedelta(minutes=1)))
        session.commit()
        window = {"unsent_after": timedelta(seconds=10), "stale_after": timedelta(minutes=15)}
        assert job_id in [row[0] for row in lifecycle.due_for_publishing(session, **window)]
        assert job_id not in [row[0] for row in lifecycle.due_for_publishing(session, **window)]


def test_a_job_due_for_publishing_says_whether_it_has_a_callback(quiet_sessions):
    sessions, account = quiet_sessions, make_account(quiet_sessions)
    window = {"unsent_after": timedelta(seconds=1), "stale_after": timedelta(hours=1)}
    with sessions() as session:
        with_callback, without = (
            submit_directly(session, account, callback_url=url) for url in ("https://hooks.example.com/x", None)
        )
        for job_id in (with_callback, without):
            lifecycle.mark_unpublished(session, job_id)
            session.execute(update(Job).where(Job.id == job_id).values(created_at=utcnow() - timedelta(minutes=1)))
        session.commit()
        due = {row[0]: row[3] for row in lifecycle.due_for_publishing(session, **window, limit=10_000)}
    assert due[with_callback] is True and due[without] is False


def test_expired_finished_jobs_are_purged_and_unfinished_ones_kept(sessions, job_id, account):
    with sessions() as session:
        waiting = submit_directly(session, account, scopes=("jobs:write",), priority="low")
        lifecycle.cancel(session, job_id)
        session.execute(
            update(Job).where(Job.id.in_([job_id, waiting])).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
        assert lifecycle.purge_expired(session) >= 1
    assert status(sessions, job_id) is None
    assert status(sessions, waiting) == "queued"


def _synchronous_commit_after(sessions, statement, params) -> str:
    """The synchronous_commit setting a statement leaves its own transaction to commit with."""
    with sessions() as session:
        session.execute(text(statement), params)
        setting = session.scalar(text("SHOW synchronous_commit"))
        session.rollback()
    return setting


def test_only_the_claim_commits_without_waiting_for_its_wal_flush(sessions, job_id):
    # A crash may undo a claim (the job is queued again and its message redelivered); never a result.
    now = utcnow()
    assert (
        _synchronous_commit_after(sessions, "SELECT * FROM claim_job(:id, NULL, :now)", {"id": job_id, "now": now})
        == "off"
    )
    assert (
        _synchronous_commit_after(
            sessions, "SELECT finish_job(:id, true, '{}', NULL, NULL, NULL, :now)", {"id": job_id, "now": now}
        )
        == "on"
    )
