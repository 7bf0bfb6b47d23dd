"""Job quotas from the account's plan: points per job, jobs per UTC day and jobs in flight at once.

The request-rate limit lives in the web layer (flask-limiter, Redis); these quotas are counted in
PostgreSQL, so they hold exactly, and still hold when Redis is down.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.plans import PlanLimits
from smartcompute.accounts.models import JobQuotaUsage
from smartcompute.db import utcnow
from smartcompute.jobs.enums import LIVE_STATUSES
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


def start_of_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Admission:
    """The account's daily and in-flight quotas, counted by job submission as its last step (the
    `submit_job` function, migration 0008): the daily counter's row stays locked until the submission
    commits, so the account's concurrent submissions pass one at a time and cannot both take the last slot,
    and the new job counts itself in flight."""

    plan_name: str
    plan: PlanLimits

    def refused(self, quota: str) -> QuotaExceeded:
        """The error for a quota that `submit_job` found used up."""
        if quota == "jobs_per_day":
            now = utcnow()
            tomorrow = start_of_day(now) + timedelta(days=1)
            return QuotaExceeded(
                f"the {self.plan_name} plan allows {self.plan.jobs_per_day} jobs per day (UTC)",
                max(1, int((tomorrow - now).total_seconds())),
                quota,
            )
        return QuotaExceeded(
            f"the {self.plan_name} plan allows {self.plan.concurrent_jobs} jobs queued or running at once", 5, quota
        )


def usage(session: Session, account_id: uuid.UUID) -> Usage:
    """What the account view shows; submission counts its quotas itself, in `submit_job`."""
    today = session.scalar(
        select(JobQuotaUsage.jobs).where(
            JobQuotaUsage.account_id == account_id, JobQuotaUsage.day == start_of_day(utcnow()).date()
        )
    )
    in_flight = session.scalar(
        select(func.count()).select_from(Job).where(Job.account_id == account_id, Job.status.in_(LIVE_STATUSES))
    )
    return Usage(today or 0, in_flight or 0)


def check_job_size(plan_name: str, plan: PlanLimits, data: dict) -> None:
    """Before anything is written: a job bigger than the plan allows is refused outright."""
    points = points_in(data)
    if points > plan.points_per_job:
        raise PlanLimitExceeded(
            f"the {plan_name} plan allows {plan.points_per_job} points per job; this job has {points}"
        )
