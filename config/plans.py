"""Plan limits as a typed setting: what each plan (free, pro, enterprise...) may use.

`PLANS` is written `name:key=value,key=value;name:...`, for example
`free:requests=60/minute,jobs_per_day=100,concurrent_jobs=2,points_per_job=50000`.
A plan written without a key takes that key's default (the `free` values below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from smartcompute.numbers import whole_number

_RATE = re.compile(r"^([0-9]+)\s*(/|per)\s*([0-9]+\s*)?(second|minute|hour|day)s?$", re.ASCII)
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class PlanLimits:
    requests: str = "60/minute"  # API calls per account, whatever key or sign-in makes them (flask-limiter notation)
    jobs_per_day: int = 100  # jobs submitted per account in the current UTC day
    concurrent_jobs: int = 2  # jobs of the account queued or running at once
    points_per_job: int = 50_000  # timestamps x metrics in one job
    api_keys: int = 5  # keys of the account in use at once (not revoked, expired or replaced)


DEFAULT_PLANS = (
    "free:requests=60/minute,jobs_per_day=100,concurrent_jobs=2,points_per_job=50000,api_keys=5;"
    "pro:requests=600/minute,jobs_per_day=5000,concurrent_jobs=10,points_per_job=200000,api_keys=25;"
    "enterprise:requests=3000/minute,jobs_per_day=100000,concurrent_jobs=50,points_per_job=200000,api_keys=100"
)


def rate_limit(value: str) -> str:
    value = value.strip()
    if not _RATE.match(value):
        raise ValueError(f"{value!r} is not a rate such as 60/minute")
    return value


def rate_limits(value: str) -> str:
    """One rate or several separated by `;`, each holding at once (`5/minute;20/hour`): a longer window's
    smaller allowance makes someone who keeps going wait longer each time."""
    rates = [rate_limit(part) for part in value.split(";") if part.strip()]
    if not rates:
        raise ValueError(f"{value!r} is not a rate such as 60/minute, or several separated by ;")
    return ";".join(rates)


def per_second(rate: str) -> float:
    """The requests per second a rate such as `600/minute` or `10 per 5 minutes` allows."""
    matched = _RATE.match(rate_limit(rate))
    assert matched is not None  # rate_limit() accepts only what the pattern matches
    amount, _, multiple, unit = matched.groups()
    return int(amount) / (int(multiple or 1) * _SECONDS[unit])


def _plan(name: str, spec: str) -> PlanLimits:
    known = {item.name: item.type for item in fields(PlanLimits)}
    plan = PlanLimits()
    for pair in filter(None, (part.strip() for part in spec.split(","))):
        key, _, raw = pair.partition("=")
        key = key.strip()
        if key not in known:
            raise ValueError(f"plan {name}: unknown limit {key!r} (known: {', '.join(known)})")
        if key == "requests":
            plan = replace(plan, requests=rate_limit(raw))
            continue
        number = whole_number(raw.strip())
        if number <= 0:
            raise ValueError(f"plan {name}: {key} must be a positive integer")
        plan = replace(plan, **{key: number})  # type: ignore[arg-type]  # key names one of the int limits
    return plan


def parse_plans(value: str) -> dict[str, PlanLimits]:
    plans = {}
    for entry in filter(None, (part.strip() for part in value.split(";"))):
        name, _, spec = entry.partition(":")
        name = name.strip()
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a plan name (lower-case letters, digits, - and _)")
        plans[name] = _plan(name, spec)
    if not plans:
        raise ValueError("must name at least one plan")
    return plans
