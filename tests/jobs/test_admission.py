"""Admission control: a new job is refused while the queued jobs are too many, or the oldest has waited too long,
for its priority (lower priorities at a smaller share of the limits); a refusal says when to come back, from the
rate jobs finished at over the last minute."""

from __future__ import annotations


import pytest
from sqlalchemy import text

from smartcompute.jobs import admission
from tests.conftest import make_account
from tests.support import submit_directly

LIMITS = admission.Limits(max_queued=20, max_wait_seconds=60)  # low 10, normal 15, high 18, critical 20 jobs


@pytest.fixture
def queue(own_database):
    """Adds jobs of a priority, as the API leaves them, created `ago` seconds back (and finished, if so)."""
    account = make_account(own_database.sessions)

    def add(count: int, priority: str, ago: float = 0.0, status: str = "queued") -> None:
        with own_database.sessions() as session:
            ids = [submit_directly(session, account, priority=priority) for _ in range(count)]
            session.execute(
                text(
                    "UPDATE jobs SET created_at = now() - make_interval(secs => :ago), status = :status, "
                    "finished_at = CASE WHEN :status = 'succeeded' THEN now() END WHERE id = ANY(:ids)"
                ),
                {"ago": ago, "status": status, "ids": ids},
            )
            session.commit()

    return add


def refused(own_database) -> dict[str, admission.Refusal | None]:
    with own_database.sessions() as session:
        backlog = admission.measure(session, LIMITS)
    return {priority: admission.refusal(backlog, priority, LIMITS) for priority in admission.SHARE_OF_LIMITS}


def test_a_growing_queue_refuses_low_jobs_first_and_critical_ones_last(own_database, queue):
    queue(16, "normal")
    assert [priority for priority, refusal in refused(own_database).items() if refusal] == ["low", "normal"]
    queue(2, "critical")
    assert [priority for priority, refusal in refused(own_database).items() if refusal] == ["low", "normal", "high"]
    queue(2, "critical")
    assert all(refused(own_database).values())


def test_long_waiting_jobs_refuse_new_ones_of_their_priority_and_higher_ones_past_their_share(own_database, queue):
    """Low jobs accepted earlier are not left behind newer high ones for ever: those are refused too."""
    queue(10, "low", ago=50)
    refusals = refused(own_database)
    assert refusals["normal"].reason == "queued jobs have waited 50 s (the limit for normal jobs is 45 s)"
    assert refusals["low"] and refusals["high"] is None and refusals["critical"] is None


def test_a_few_jobs_stuck_for_long_do_not_stop_intake(own_database, queue):
    queue(admission.WAIT_RANK - 1, "normal", ago=3600)  # their messages lost, say, and not yet sent again
    assert not any(refused(own_database).values())


def test_retry_after_is_the_time_to_drain_the_excess_at_the_rate_jobs_finished_over_the_last_minute(
    own_database, queue
):
    queue(30, "normal", status="succeeded")  # half a job a second
    queue(22, "normal")  # three past the critical limit of 20: the 20th, 21st and 22nd go before a 23rd comes in
    assert refused(own_database)["critical"].retry_after == 6


def test_with_nothing_finished_for_a_minute_a_refusal_asks_to_come_back_in_a_minute(own_database, queue):
    queue(10, "low")
    assert refused(own_database)["low"].retry_after == admission.RETRY_AFTER_STALLED_SECONDS


def test_no_limits_admit_everything(own_database, queue):
    queue(50, "low", ago=3600)
    with own_database.sessions() as session:
        backlog = admission.measure(session, admission.Limits(0, 0))
    assert admission.refusal(backlog, "low", admission.Limits(0, 0)) is None
