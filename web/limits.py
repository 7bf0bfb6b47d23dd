"""Job quotas at submission: the account plan's points per job, jobs per day and jobs in flight."""
from __future__ import annotations

from smartcompute.accounts import limits
from web.auth import current_principal
from web.problems import Problem
from web.runtime import db, web_runtime


def enforce_job_quota(data: dict) -> None:
    """Run in the request's transaction just before the job is inserted (see limits.check_job_quota)."""
    settings, principal = web_runtime().settings, current_principal()
    plan = settings.PLANS.get(principal.plan, settings.PLANS[settings.DEFAULT_PLAN])
    try:
        limits.check_job_quota(db(), principal.account_id, principal.plan, plan, data)
    except limits.PlanLimitExceeded as error:
        raise Problem(422, str(error), kind="plan-limit-exceeded",
                      errors=[{"field": "data", "message": str(error)}]) from None
    except limits.QuotaExceeded as error:
        raise Problem(429, error.detail, kind="quota-exceeded", headers={"Retry-After": str(error.retry_after)}) from None
