"""Admission control: refuse new jobs while the backlog is past what the installation drains in time.

Per-account quotas cap one account; this protects the installation when many accounts together submit faster
than the workers drain. A new job is refused while the queued jobs are too many, or have waited too long, for
its priority: a `low` job at half the limits, `normal` at three quarters, `high` at 90%, `critical` only at the
limits themselves. So lower priorities are refused first, and since the wait that counts is the queue's whatever
the priority, `low` jobs already accepted are not left waiting behind an endless stream of higher ones: past their
share of the wait limit, those are refused too until the low ones are served. So accepted jobs start within about
the wait limit, and the backlog stays about within the count limit.

The wait that counts is the tenth-oldest queued job's, not the oldest's: a few jobs stuck for a reason of their
own (a message the broker lost, waiting for the re-publisher) must not stop all intake, and a handful of jobs is
no backlog.

A refusal says when to come back: the time the workers, at the rate they finished jobs over the last minute,
take to bring the backlog back under that priority's limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text

from smartcompute.db import Database, connection_of
from smartcompute.jobs.enums import JobStatus
from smartcompute.jobs.models import PRIORITIES

SHARE_OF_LIMITS = {"low": 0.5, "normal": 0.75, "high": 0.9, "critical": 1.0}
WAIT_RANK = 10  # the queued job whose wait counts: the tenth-oldest
DRAIN_WINDOW_SECONDS = 60
RETRY_AFTER_MAX_SECONDS = 300
RETRY_AFTER_STALLED_SECONDS = 60  # when no job finished over the window: the workers are down or stuck

# One scan of the queued jobs (the partial index `ix_jobs_waiting`) and one of the jobs finished in the window
# (`ix_jobs_finished_at`, migration 0015).
_QUEUED = f"status = '{JobStatus.QUEUED}'"
_WAITING = text(
    "SELECT count(*) AS queued, coalesce(extract(epoch FROM now() - (SELECT created_at FROM jobs "
    f"WHERE {_QUEUED} ORDER BY created_at OFFSET {WAIT_RANK - 1} LIMIT 1)), 0) AS waited, "
    + ", ".join(
        f"count(*) FILTER (WHERE created_at < now() - make_interval(secs => :wait_{priority})) AS past_{priority}"
        for priority in PRIORITIES
    )
    + f" FROM jobs WHERE {_QUEUED}"
)
_DRAINED = text(f"SELECT count(*) FROM jobs WHERE finished_at > now() - interval '{DRAIN_WINDOW_SECONDS} seconds'")


@dataclass(frozen=True)
class Limits:
    max_queued: int  # 0: no limit
    max_wait_seconds: int  # 0: no limit

    def for_priority(self, priority: str) -> tuple[int, float]:
        """(queued jobs, seconds of the oldest's wait) at which a job of `priority` is refused; 0: no limit."""
        share = SHARE_OF_LIMITS[priority]
        return max(int(self.max_queued * share), 1) if self.max_queued else 0, self.max_wait_seconds * share


@dataclass(frozen=True)
class Backlog:
    queued: int
    waited_seconds: float  # by the tenth-oldest queued job; 0 with fewer queued
    past_wait_limit: dict[str, int]  # by priority: queued jobs that have waited past that priority's wait limit
    drained_per_second: float


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after: int  # seconds


def measure(db: Database, limits: Limits) -> Backlog:
    connection = connection_of(db)
    waits = {f"wait_{priority}": limits.for_priority(priority)[1] for priority in PRIORITIES}
    row = connection.execute(_WAITING, waits).one()
    drained = connection.execute(_DRAINED).scalar_one()
    return Backlog(
        row.queued,
        max(float(row.waited), 0.0),
        {priority: getattr(row, f"past_{priority}") for priority in PRIORITIES},
        drained / DRAIN_WINDOW_SECONDS,
    )


def refusal(backlog: Backlog, priority: str, limits: Limits) -> Refusal | None:
    """Why a new job of `priority` is refused now, and when to try again; None when it is admitted."""
    max_queued, max_wait = limits.for_priority(priority)
    too_many = bool(max_queued) and backlog.queued >= max_queued
    too_old = bool(max_wait) and backlog.waited_seconds >= max_wait
    if not (too_many or too_old):
        return None
    # The jobs to drain before a new one would be admitted: those past the count, or those waiting too long but
    # the nine the rank leaves out.
    excess = max(
        backlog.queued - max_queued + 1 if too_many else 0,
        backlog.past_wait_limit[priority] - (WAIT_RANK - 1) if too_old else 0,
        1,
    )
    if backlog.drained_per_second > 0:
        retry_after = min(math.ceil(excess / backlog.drained_per_second), RETRY_AFTER_MAX_SECONDS)
    else:
        retry_after = RETRY_AFTER_STALLED_SECONDS
    if too_many:
        reason = f"{backlog.queued} jobs are queued (the limit for {priority} jobs is {max_queued})"
    else:
        reason = (
            f"queued jobs have waited {backlog.waited_seconds:.0f} s (the limit for {priority} jobs is "
            f"{max_wait:.0f} s)"
        )
    return Refusal(reason, max(retry_after, 1))
