"""Submitting, reading, listing and canceling jobs on behalf of an account."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, cast, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from smartcompute.accounts.services import Principal
from smartcompute.billing import ledger
from smartcompute.jobs import lifecycle
from smartcompute.jobs.models import Job
from smartcompute.db import utcnow

MAX_PAGE_SIZE = 100


class JobNotFound(LookupError):
    pass


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different request."""


class InvalidCursor(ValueError):
    pass


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
    fingerprint: str | None = None, cost: int = 0,
) -> Submission:
    """Insert a queued job and commit it. Publishing happens after this returns, never before the commit.

    `cost` credits are held for the job in the same transaction (billing.ledger.InsufficientCredits if short).
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
        session.commit()
    except ledger.InsufficientCredits:
        session.rollback()
        raise
    except IntegrityError:
        session.rollback()
        # A concurrent request with the same Idempotency-Key won the race.
        earlier = _replay(session, principal, idempotency_key, fingerprint) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
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


def encode_cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, job_id = raw.split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(job_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API returned") from None


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
    if cursor:
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*decode_cursor(cursor)))
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    jobs = list(session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(jobs[limit - 1]) if len(jobs) > limit else None
    return jobs[:limit], next_cursor


def cancel_job(session: Session, principal: Principal, job_id: uuid.UUID) -> Job:
    get_job(session, principal, job_id, with_result=False)
    lifecycle.cancel(session, job_id)
    session.commit()
    return get_job(session, principal, job_id)
