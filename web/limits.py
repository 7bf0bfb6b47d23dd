"""Job quotas at submission: the account plan's points per job, jobs per day and jobs in flight."""

from __future__ import annotations

from config.plans import PlanLimits
from smartcompute.accounts import limits
from web.auth import current_principal
from web.problems import Problem
from web.runtime import web_runtime


def _plan() -> PlanLimits:
    return web_runtime().settings.plan_limits(current_principal().plan)


def check_job_size(data: dict) -> None:
    """Before anything is written: the plan's points per job (422, retrying will not help)."""
    try:
        limits.check_job_size(current_principal().plan, _plan(), data)
    except limits.PlanLimitExceeded as error:
        raise Problem(
            422, str(error), kind="plan-limit-exceeded", errors=[{"field": "data", "message": str(error)}]
        ) from None


def job_admission() -> limits.Admission:
    """The caller's daily and in-flight quotas, which job submission counts (see limits.Admission); a
    used-up one raises limits.QuotaExceeded, which `quota_exceeded` answers."""
    return limits.Admission(current_principal().plan, _plan())


def quota_exceeded(error: limits.QuotaExceeded) -> Problem:
    return Problem(429, error.detail, kind="quota-exceeded", headers={"Retry-After": str(error.retry_after)})
