"""Submitting, reading, listing and canceling jobs on behalf of an account."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, cast, column, select, text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.types import NullType

from smartcompute import pagination
from smartcompute.accounts import limits
from smartcompute.accounts.services import Principal
from smartcompute.billing import ledger
from smartcompute.jobs import lifecycle
from smartcompute.jobs.enums import JobStatus
from smartcompute.jobs.models import Job, JobCallback
from smartcompute.db import Database, connection_of, utcnow


class JobNotFound(LookupError):
    pass


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job as `submit_job` inserted it, with the attributes of a `Job` row that a view reads. A plain record:
    an ORM object, with its attribute instrumentation, cost five times as much to build on every submission."""

    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID | None
    type: str
    priority: str
    data: dict[str, Any]
    host: str | None
    idempotency_key: str | None
    request_hash: str | None
    request_id: str | None
    created_at: datetime
    expires_at: datetime
    status: str = JobStatus.QUEUED
    progress: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    imported: dict[str, Any] | None = None


@dataclass(frozen=True)
class Submission:
    job_id: uuid.UUID
    created: bool  # False when an Idempotency-Key replay returned the earlier job
    job: QueuedJob | None = None  # the inserted row, when created: the caller can answer without reading it back


def request_fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Insert, credit hold and quotas in one statement (migrations/sql/submit_job.sql); see `submit_job` below. Its
# (void) column is named and typed so SQLAlchemy builds the result's metadata once, not on every submission.
_SUBMIT_CALL = """submit_job(CAST(:id AS uuid), CAST(:account_id AS uuid), CAST(:user_id AS uuid), :type, :priority,
                      :data, :host, :idempotency_key, :request_hash, :request_id, :now, :expires_at, :cost, :day,
                      :jobs_per_day, :concurrent_jobs)"""
_SUBMIT = (
    text(f"SELECT {_SUBMIT_CALL} AS submitted")
    .bindparams(bindparam("data", type_=JSON))
    .columns(column("submitted", NullType()))
)
# With a callback, its outbox row goes in the same statement, and so in the same transaction as the job.
_SUBMIT_WITH_CALLBACK = text(f"""
    WITH submitted AS (SELECT {_SUBMIT_CALL} AS submitted)
    INSERT INTO job_callbacks (job_id, url, attempts) SELECT CAST(:id AS uuid), :callback_url, 0 FROM submitted
""").bindparams(bindparam("data", type_=JSON))
_INSUFFICIENT_CREDITS, _QUOTA_USED_UP = "SC402", "SC429"


def submit_job(
    db: Database,
    principal: Principal,
    *,
    job_type: str,
    data: dict,
    priority: str,
    retention: timedelta,
    idempotency_key: str | None = None,
    request_id: str | None = None,
    fingerprint: str | None = None,
    cost: int = 0,
    admission: limits.Admission | None = None,
    callback_url: str | None = None,
) -> Submission:
    """Insert a queued job and commit it. Publishing happens after this returns, never before the commit.

    One statement, the `submit_job` function, inserts the job, holds its `cost` in credits (else
    billing.ledger.InsufficientCredits) and, with `admission`, counts it against the account's daily and
    in-flight quotas (else accounts.limits.QuotaExceeded). Run on an autocommit session it is also the whole
    transaction, so the account rows it locks are held for the shortest time. A refusal leaves nothing. With
    `callback_url` (checked by the caller), the job's callback is registered in the same statement.
    """
    if idempotency_key:
        earlier = replay_of(db, principal, idempotency_key, fingerprint)
        if earlier:
            return earlier
    now = utcnow()
    job = QueuedJob(
        id=uuid.uuid4(),
        account_id=principal.account_id,
        user_id=principal.user_id,
        type=job_type,
        priority=priority,
        data=data,
        host=data.get("host"),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        request_id=request_id,
        created_at=now,
        expires_at=now + retention,
    )
    try:
        if callback_url is None:
            connection_of(db).execute(_SUBMIT, _submission_parameters(job, cost, admission))
        else:
            connection_of(db).execute(
                _SUBMIT_WITH_CALLBACK, {**_submission_parameters(job, cost, admission), "callback_url": callback_url}
            )
        db.commit()
    except IntegrityError:
        db.rollback()
        # A concurrent request with the same Idempotency-Key won the race.
        earlier = replay_of(db, principal, idempotency_key, fingerprint) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    except DBAPIError as error:
        db.rollback()
        refusal = _refusal(error, cost, admission)
        if refusal is None:
            raise
        raise refusal from None
    except BaseException:
        db.rollback()
        raise
    return Submission(job.id, created=True, job=job)


def _submission_parameters(job: QueuedJob, cost: int, admission: limits.Admission | None) -> dict[str, Any]:
    plan = admission.plan if admission else None
    return {
        "id": str(job.id),
        "account_id": str(job.account_id),
        "user_id": str(job.user_id) if job.user_id else None,
        "type": job.type,
        "priority": job.priority,
        "data": job.data,
        "host": job.host,
        "idempotency_key": job.idempotency_key,
        "request_hash": job.request_hash,
        "request_id": job.request_id,
        "now": job.created_at,
        "expires_at": job.expires_at,
        "cost": cost,
        "day": limits.start_of_day(job.created_at).date(),
        "jobs_per_day": plan.jobs_per_day if plan else None,
        "concurrent_jobs": plan.concurrent_jobs if plan else None,
    }


def _refusal(error: DBAPIError, cost: int, admission: limits.Admission | None) -> Exception | None:
    """The refusal `submit_job` raised as the domain's exception; None for any other database error."""
    code = getattr(error.orig, "pgcode", None)
    diagnostics = getattr(error.orig, "diag", None)
    if diagnostics is None:  # not a server's error: no refusal to read
        return None
    if code == _INSUFFICIENT_CREDITS:
        return ledger.InsufficientCredits(cost, int(diagnostics.message_detail))
    if code == _QUOTA_USED_UP and admission is not None:
        return admission.refused(diagnostics.message_primary)
    return None


def replay_of(db: Database, principal: Principal, key: str, fingerprint: str | None) -> Submission | None:
    """The job an earlier request with this Idempotency-Key created, if any (IdempotencyConflict if that request
    was a different one)."""
    row = (
        connection_of(db)
        .execute(
            select(Job.id, Job.request_hash).where(Job.account_id == principal.account_id, Job.idempotency_key == key)
        )
        .first()
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return Submission(row.id, created=False)


def get_job(session: Session, principal: Principal, job_id: uuid.UUID, *, with_result: bool = True) -> Job:
    """Another account's job is indistinguishable from a job that does not exist."""
    query = select(Job).where(Job.id == job_id, Job.account_id == principal.account_id)
    if with_result:
        query = query.options(undefer(Job.result))
    job = session.scalar(query)
    if job is None:
        raise JobNotFound(str(job_id))
    return job


_BELONGS = select(Job.id).where(Job.id == bindparam("b_id"), Job.account_id == bindparam("b_account"))


def job_belongs_to(db: Database, account_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Whether the job exists and is the account's: another account's job is as absent as a missing one."""
    return connection_of(db).execute(_BELONGS, {"b_id": job_id, "b_account": account_id}).first() is not None


_jobs = Job.__table__
# The result as PostgreSQL's JSON text, for answers that pass it through: decoding 15 KB of scores only to
# encode them again was most of a poll's cost.
_callbacks = JobCallback.__table__
_JOB_WITH_RESULT_TEXT = (
    select(
        *(column for column in _jobs.c if column.name not in ("data", "result")),
        cast(_jobs.c.result, Text).label("result_json"),
        *(_callbacks.c[name] for name in ("url", "delivered_at", "given_up_at", "last_status", "last_error")),
        _callbacks.c.attempts.label("callback_attempts"),
    )
    .select_from(_jobs.outerjoin(_callbacks, _callbacks.c.job_id == _jobs.c.id))
    .where(_jobs.c.id == bindparam("b_id"), _jobs.c.account_id == bindparam("b_account"))
)


def get_job_with_result_json(db: Database, principal: Principal, job_id: uuid.UUID):
    """The job's columns (no data), `result_json` (its result as JSON text or None) and its callback's columns
    (`url` None when it has none; `callback_attempts`); JobNotFound otherwise."""
    row = connection_of(db).execute(_JOB_WITH_RESULT_TEXT, {"b_id": job_id, "b_account": principal.account_id}).first()
    if row is None:
        raise JobNotFound(str(job_id))
    return row


def list_jobs(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    job_type: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    host: str | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first, by keyset on (created_at, id) so pages stay stable while jobs are added."""
    query = select(Job).where(Job.account_id == principal.account_id)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    if host:
        query = query.where(Job.host == host)
    return pagination.newest_first(session, query, Job.created_at, Job.id, limit=limit, cursor=cursor)


def cancel_job(session: Session, principal: Principal, job_id: uuid.UUID) -> Job:
    get_job(session, principal, job_id, with_result=False)
    lifecycle.cancel(session, job_id)
    session.commit()
    return get_job(session, principal, job_id)
