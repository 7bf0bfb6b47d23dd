"""The one place a job's status changes.

queued -> running -> succeeded | failed; queued | running -> canceled; running -> queued once no delivery is
left to finish it (`requeue_abandoned`). Each transition is a single
conditional UPDATE, so concurrent workers, redeliveries and cancels can race without corrupting a row:
whoever loses the race changes nothing and learns so from the return value. Claiming and finishing run in
PostgreSQL functions (`claim_job`, `finish_job`, in migrations/sql/) that this module alone calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    column,
    delete,
    exists,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Session

from smartcompute.billing import ledger
from smartcompute.db import Database, connection_of, utcnow
from smartcompute.jobs.enums import FINISHED_STATUSES, LIVE_STATUSES, JobStatus
from smartcompute.jobs.models import Job, JobCallback


class JobAlreadyFinished(ValueError):
    def __init__(self, status: str):
        self.status = status
        super().__init__(
            f"the job has already {status}" if status != JobStatus.CANCELED else "the job was already canceled"
        )


@dataclass(frozen=True)
class ClaimedJob:
    id: uuid.UUID
    type: str
    account_id: uuid.UUID
    host: str | None
    attempt: int
    request_id: str | None
    data: dict[str, Any]


# Built once, with their parameters apart, and run on the session's connection: building an ORM `update()`
# per call (and its cache key, which walks the values, a 15 KB result included) cost more than executing it.
_jobs = Job.__table__
_PROGRESS = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("b_id"), _jobs.c.status == JobStatus.RUNNING)
    .values(progress=bindparam("b_progress"), updated_at=bindparam("b_now"))
)
_CANCEL = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("b_id"), _jobs.c.status.in_(LIVE_STATUSES))
    .values(status=JobStatus.CANCELED, finished_at=bindparam("b_now"), updated_at=bindparam("b_now"))
    .returning(_jobs.c.id)
)


# Claiming and finishing are PL/pgSQL functions (migrations/sql/): on a worker's autocommit connection each is
# one round trip and one transaction, and PostgreSQL keeps their plans. In a caller's transaction they simply
# join it. Their result columns are typed so SQLAlchemy builds each one's result metadata once, not per call.
_CLAIM = text(
    "SELECT locked, type, account_id, host, attempts, request_id, data "
    "FROM claim_job(CAST(:job_id AS uuid), :lock_key, :now)"
).columns(
    column("locked", Boolean()),
    column("type", String()),
    column("account_id", Uuid()),
    column("host", String()),
    column("attempts", Integer()),
    column("request_id", String()),
    column("data", JSON()),
)
_JSON_OR_NULL = JSON(none_as_null=True)
_FINISH = (
    text(
        "SELECT finish_job(CAST(:job_id AS uuid), :succeeded, :result, :error, :baseline, :lock_key, :now) AS finished"
    )
    .bindparams(*(bindparam(name, type_=_JSON_OR_NULL) for name in ("result", "error", "baseline")))
    .columns(column("finished", Boolean()))
)


class JobHeld(Exception):
    """Another live worker holds the job's execution lock."""


def claim(db: Database, job_id: uuid.UUID, *, max_attempts: int, lock_key: int | None = None) -> ClaimedJob | None:
    """Mark the job running for this delivery; None when it is finished, canceled or out of attempts.

    With `lock_key`, the job's session-level execution lock is taken first (JobHeld if another worker has
    it); it stays held after this returns. A job found `running` is claimed again: whoever holds the lock
    knows the previous holder is gone (its worker died) and this delivery is the redelivery.

    The claim commits without waiting for its WAL flush (migration 0010): a crash may undo it, never a result.
    Run in a caller's transaction, that whole transaction commits so; a worker runs it alone, in autocommit.
    """
    row = connection_of(db).execute(_CLAIM, {"job_id": str(job_id), "lock_key": lock_key, "now": utcnow()}).first()
    db.commit()
    if row is not None and not row.locked:
        raise JobHeld(str(job_id))
    if row is None:
        return None
    if row.attempts > max_attempts:
        fail(db, job_id, {"type": "worker_lost", "message": f"the job's worker was lost {max_attempts} times"})
        db.commit()
        return None
    return ClaimedJob(job_id, row.type, row.account_id, row.host, row.attempts, row.request_id, row.data)


def report_progress(db: Database, job_id: uuid.UUID, progress: float) -> None:
    connection_of(db).execute(
        _PROGRESS, {"b_id": job_id, "b_progress": min(max(progress, 0.0), 0.99), "b_now": utcnow()}
    )


def succeed(
    db: Database,
    job_id: uuid.UUID,
    result: dict[str, Any],
    *,
    baseline: dict[str, Any] | None = None,
    unlock_key: int | None = None,
) -> bool:
    """Store the result and charge the held cost; with `baseline`, the host's learned state in the same
    transaction. False when the job was canceled meanwhile: the result is then dropped. `unlock_key`: the
    execution lock to give back in that transaction."""
    return _finish(db, job_id, True, result=result, baseline=baseline, unlock_key=unlock_key)


def fail(db: Database, job_id: uuid.UUID, error: dict[str, Any], *, unlock_key: int | None = None) -> bool:
    """Store the error and release the held cost; False when the job had already finished."""
    return _finish(db, job_id, False, error=error, unlock_key=unlock_key)


def _finish(
    db: Database, job_id: uuid.UUID, succeeded: bool, *, result=None, error=None, baseline=None, unlock_key: int | None
) -> bool:
    return bool(
        connection_of(db)
        .execute(
            _FINISH,
            {
                "job_id": str(job_id),
                "succeeded": succeeded,
                "result": result,
                "error": error,
                "baseline": baseline,
                "lock_key": unlock_key,
                "now": utcnow(),
            },
        )
        .scalar()
    )


def cancel(session: Session, job_id: uuid.UUID) -> None:
    done = session.connection().execute(_CANCEL, {"b_id": job_id, "b_now": utcnow()}).first()
    if done is not None:
        ledger.release(session, job_id)
    if done is None:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
        raise JobAlreadyFinished(status or "finished")


def mark_unpublished(session: Session, job_id: uuid.UUID) -> None:
    """The broker refused the job; the re-publisher will send it."""
    session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED).values(published_at=None))
    session.commit()


def due_for_publishing(
    session: Session,
    *,
    unsent_after: timedelta,
    stale_after: timedelta | None,
    limit: int = 500,
) -> list[tuple[uuid.UUID, str, str | None, bool]]:
    """Queued jobs never sent (broker was down) or, unless `stale_after` is None, sent long ago and still not
    started; marks them sent. Each comes as (id, priority, request_id, whether it has a callback).

    Rows are locked with SKIP LOCKED so two re-publishers never send the same job in one round.
    """
    now = utcnow()
    waiting = and_(Job.published_at.is_(None), Job.created_at < now - unsent_after)
    if stale_after is not None:
        waiting = or_(waiting, Job.published_at < now - stale_after)
    has_callback = exists().where(JobCallback.job_id == Job.id).label("has_callback")
    rows = session.execute(
        select(Job.id, Job.priority, Job.request_id, has_callback)
        .where(Job.status == JobStatus.QUEUED, waiting)
        .order_by(Job.created_at)
        .limit(limit)
        .with_for_update(of=Job, skip_locked=True)
    ).all()
    if rows:
        session.execute(update(Job).where(Job.id.in_([row.id for row in rows])).values(published_at=now))
    session.commit()
    return [(row.id, row.priority, row.request_id, row.has_callback) for row in rows]


def abandoned(session: Session, *, claimed_before) -> list[uuid.UUID]:
    """Running jobs claimed before `claimed_before`: the caller checks which of them no worker holds."""
    return list(session.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING, Job.started_at < claimed_before)))


def requeue_abandoned(session: Session, job_id: uuid.UUID, *, claimed_before) -> bool:
    """Put a running job that lost its delivery back in the queue, never sent, for the re-publisher to send.
    Its next claim counts as another attempt (JOB_MAX_ATTEMPTS). False if it is no longer running, or a
    delivery claimed it again since `claimed_before`."""
    now = utcnow()
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.started_at < claimed_before)
        .values(status=JobStatus.QUEUED, started_at=None, progress=0.0, published_at=None, updated_at=now)
        .returning(Job.id)
    ).first()
    return done is not None


def purge_expired(session: Session, *, limit: int = 1000) -> int:
    """Delete finished jobs past their expires_at (their results go with them); returns how many."""
    expired = (
        select(Job.id)
        .where(Job.expires_at < utcnow(), Job.status.in_(FINISHED_STATUSES))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    deleted = session.execute(delete(Job).where(Job.id.in_(expired)).returning(Job.id)).all()
    session.commit()
    return len(deleted)


def is_finished(status: str) -> bool:
    return status in FINISHED_STATUSES
