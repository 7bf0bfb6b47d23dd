"""Submitting, reading, listing and canceling jobs on behalf of an account."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from smartcompute import pagination
from smartcompute.accounts.services import Principal
from smartcompute.billing import ledger
from smartcompute.jobs import lifecycle
from smartcompute.jobs.models import Job
from smartcompute.db import utcnow



class JobNotFound(LookupError):
    pass


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True)
class Submission:
    job_id: uuid.UUID
    created: bool  # False when an Idempotency-Key replay returned the earlier job
    job: Job | None = None  # the inserted row, when created: the caller can answer without reading it back


def request_fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_INSERT_JOB = Job.__table__.insert()


def submit_job(
    session: Session, principal: Principal, *, job_type: str, data: dict, priority: str,
    retention: timedelta, idempotency_key: str | None = None, request_id: str | None = None,
    fingerprint: str | None = None, cost: int = 0, admit: Callable[[Session], None] | None = None,
) -> Submission:
    """Insert a queued job and commit it. Publishing happens after this returns, never before the commit.

    `cost` credits are held for the job in the same transaction (billing.ledger.InsufficientCredits if short).
    `admit` (the account's quota check) runs last, after the insert and the hold: what it locks serialises the
    account's submissions until the commit, so the heavy insert stays outside that queue. Whatever it raises
    rolls the whole submission back.
    """
    if idempotency_key:
        earlier = _replay(session, principal, idempotency_key, fingerprint)
        if earlier:
            return earlier
    now = utcnow()
    values = dict(
        id=uuid.uuid4(), account_id=principal.account_id, user_id=principal.user_id, type=job_type,
        priority=priority, status="queued", progress=0.0, data=data, result=None, error=None, host=data.get("host"),
        idempotency_key=idempotency_key, request_hash=fingerprint, request_id=request_id, attempts=0,
        created_at=now, published_at=now, started_at=None, finished_at=None, expires_at=now + retention,
        updated_at=now,
    )
    try:
        # A plain table insert with its parameters apart: compiled once and cached, where the ORM's unit of
        # work (or building a VALUES clause per call) costs more than the statement itself.
        session.execute(_INSERT_JOB, values)
        ledger.hold(session, principal.account_id, values["id"], cost)
        if admit is not None:
            admit(session)
        session.commit()
    except IntegrityError:
        session.rollback()
        # A concurrent request with the same Idempotency-Key won the race.
        earlier = _replay(session, principal, idempotency_key, fingerprint) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    except BaseException:  # refused (credits, quota) or failed: nothing of the submission stays
        session.rollback()
        raise
    job = Job(**values)  # the row as inserted, for the caller's answer; not attached to the session
    return Submission(job.id, created=True, job=job)


def _replay(session: Session, principal: Principal, key: str, fingerprint: str | None) -> Submission | None:
    row = session.execute(
        select(Job.id, Job.request_hash).where(Job.account_id == principal.account_id, Job.idempotency_key == key)
    ).first()
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


_jobs = Job.__table__
# The result as PostgreSQL's JSON text, for answers that pass it through: decoding 15 KB of scores only to
# encode them again was most of a poll's cost.
_JOB_WITH_RESULT_TEXT = (
    select(*(column for column in _jobs.c if column.name not in ("data", "result")),
           cast(_jobs.c.result, Text).label("result_json"))
    .where(_jobs.c.id == bindparam("b_id"), _jobs.c.account_id == bindparam("b_account"))
)


def get_job_with_result_json(session: Session, principal: Principal, job_id: uuid.UUID):
    """The job's columns (no data) and `result_json`, its result as JSON text or None; JobNotFound otherwise."""
    row = session.connection().execute(
        _JOB_WITH_RESULT_TEXT, {"b_id": job_id, "b_account": principal.account_id}).first()
    if row is None:
        raise JobNotFound(str(job_id))
    return row


def list_jobs(
    session: Session, principal: Principal, *, status: str | None = None, job_type: str | None = None,
    limit: int = 20, cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first, by keyset on (created_at, id) so pages stay stable while jobs are added."""
    query = select(Job).where(Job.account_id == principal.account_id)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    return pagination.newest_first(session, query, Job.created_at, Job.id, limit=limit, cursor=cursor)


def cancel_job(session: Session, principal: Principal, job_id: uuid.UUID) -> Job:
    get_job(session, principal, job_id, with_result=False)
    lifecycle.cancel(session, job_id)
    session.commit()
    return get_job(session, principal, job_id)
