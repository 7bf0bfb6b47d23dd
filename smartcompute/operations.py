"""What an operator watches: the work waiting, what keeps failing and whether the scheduled rounds run, read
from PostgreSQL, the source of truth, so every API process reports the same numbers however many there are.

Each figure is one query that an index answers (the waiting and in-flight jobs, open callbacks, dead-lettered
payment events and payments held for review are each covered by a partial index; the rounds are a row each),
so a scrape stays cheap as tables grow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from smartcompute import maintenance
from smartcompute.db import Database, connection_of
from smartcompute.jobs import callbacks
from smartcompute.jobs.enums import LIVE_STATUSES, JobStatus, sql_list

_LIVE_JOBS = text(f"SELECT type, status, count(*) FROM jobs WHERE status IN {sql_list(LIVE_STATUSES)} GROUP BY 1, 2")
_OLDEST_QUEUED = text(
    f"SELECT extract(epoch FROM now() - min(created_at)) FROM jobs WHERE status = '{JobStatus.QUEUED}'"
)
_DEAD_PAYMENT_EVENTS = text("SELECT count(*) FROM webhook_events WHERE status = 'dead'")
_PAYMENTS_IN_REVIEW = text("SELECT count(*) FROM payments WHERE status = 'review'")


@dataclass(frozen=True)
class Snapshot:
    live_jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, status) -> jobs
    oldest_queued_seconds: float = 0.0  # 0 when nothing waits
    callbacks_pending: int = 0  # of finished jobs, not yet delivered
    callbacks_given_up: int = 0
    dead_payment_events: int = 0
    payments_in_review: int = 0  # confirmations that credited nothing, waiting for staff
    # Each scheduled round's seconds since it last finished (None: never), from smartcompute.maintenance.
    round_ages: dict[str, float | None] = field(default_factory=dict)


def snapshot(db: Database) -> Snapshot:
    connection = connection_of(db)
    live = {(job_type, status): count for job_type, status, count in connection.execute(_LIVE_JOBS)}
    oldest = connection.execute(_OLDEST_QUEUED).scalar()
    callbacks_pending, callbacks_given_up = callbacks.counts(db)
    return Snapshot(
        live_jobs=live,
        oldest_queued_seconds=max(float(oldest or 0.0), 0.0),
        callbacks_pending=callbacks_pending,
        callbacks_given_up=callbacks_given_up,
        dead_payment_events=connection.execute(_DEAD_PAYMENT_EVENTS).scalar_one(),
        payments_in_review=connection.execute(_PAYMENTS_IN_REVIEW).scalar_one(),
        round_ages=maintenance.seconds_since_finished(db),
    )
