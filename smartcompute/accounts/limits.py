"""Job quotas from the account's plan: points per job, jobs per UTC day and jobs in flight at once.

The request-rate limit lives in the web layer (flask-limiter, Redis); these quotas are counted in
PostgreSQL, so they hold exactly, and still hold when Redis is down.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from config.plans import PlanLimits
from smartcompute.accounts.models import JobQuotaUsage
from smartcompute.db import utcnow
from smartcompute.jobs.models import Job

class QuotaExceeded(Exception):
    """A quota is used up: `retry_after` says when trying again can succeed."""

    def __init__(self, detail: str, retry_after: int, quota: str):
        super().__init__(detail)
        self.detail, self.retry_after, self.quota = detail, retry_after, quota


class PlanLimitExceeded(ValueError):
    """The request itself is bigger than the plan allows; retrying will not help."""


@dataclass(frozen=True)
class Usage:
    jobs_today: int
    jobs_in_flight: int


def points_in(data: dict) -> int:
    return len(data.get("timestamps") or ()) * max(1, len(data.get("metrics") or {}))


def _start_of_day(now: datetime) -> datetime:
    return now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


_jobs = Job.__table__
# Built once with their parameters apart: both run on every submission.
_IN_FLIGHT = (select(func.count()).select_from(_jobs)
              .where(_jobs.c.account_id == bindparam("b_account"), _jobs.c.status.in_(("queued", "running"))))
# As text: SQLAlchemy 2.0 never caches the compiled form of its PostgreSQL insert(), and ON CONFLICT needs it.
_COUNT_TODAY = text("""
    INSERT INTO job_quota_usage (account_id, day, jobs) VALUES (:b_account, :b_day, 1)
    ON CONFLICT (account_id, day) DO UPDATE SET jobs = job_quota_usage.jobs + 1
    RETURNING jobs""")


def _jobs_in_flight(session: Session, account_id: uuid.UUID) -> int:
    return session.connection().execute(_IN_FLIGHT, {"b_account": account_id}).scalar() or 0


def usage(session: Session, account_id: uuid.UUID) -> Usage:
    today = session.scalar(select(JobQuotaUsage.jobs).where(
        JobQuotaUsage.account_id == account_id, JobQuotaUsage.day == _start_of_day(utcnow()).date()))
    return Usage(today or 0, _jobs_in_flight(session, account_id))


def _count_todays_job(session: Session, account_id: uuid.UUID) -> int:
    """Add this job to today's counter and return the new count; the row stays locked until the caller's
    transaction ends, so concurrent submissions of the account queue here and cannot both take the last slot.
    If the job is refused or its transaction rolls back, the count goes back with it."""
    day = _start_of_day(utcnow()).date()
    return session.connection().execute(_COUNT_TODAY, {"b_account": account_id, "b_day": day}).scalar_one()


def check_job_size(plan_name: str, plan: PlanLimits, data: dict) -> None:
    """Before anything is written: a job bigger than the plan allows is refused outright."""
    points = points_in(data)
    if points > plan.points_per_job:
        raise PlanLimitExceeded(f"the {plan_name} plan allows {plan.points_per_job} points per job; this job has {points}")


def admit_job(session: Session, account_id: uuid.UUID, plan_name: str, plan: PlanLimits) -> None:
    """Count the job against the daily and in-flight quotas, or raise QuotaExceeded.

    Call in the submitting transaction after the job's row is inserted, as its last statements before the
    commit. The counter row stays locked until then, so the account's concurrent submissions pass here one
    at a time and cannot both take the last slot; keeping this last keeps that queue short. The new job is
    already visible to the in-flight count, so it counts itself."""
    if _count_todays_job(session, account_id) > plan.jobs_per_day:
        now = utcnow()
        tomorrow = _start_of_day(now) + timedelta(days=1)
        raise QuotaExceeded(f"the {plan_name} plan allows {plan.jobs_per_day} jobs per day (UTC)",
                            max(1, int((tomorrow - now).total_seconds())), "jobs_per_day")
    if _jobs_in_flight(session, account_id) > plan.concurrent_jobs:
        raise QuotaExceeded(f"the {plan_name} plan allows {plan.concurrent_jobs} jobs queued or running at once",
                            5, "concurrent_jobs")
