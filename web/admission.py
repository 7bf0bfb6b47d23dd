"""Load shedding for `POST /v1/jobs` (smartcompute/jobs/admission.py), on a backlog each API process measures at
most once a second, so a burst of submissions costs PostgreSQL two small queries a second per process."""

from __future__ import annotations

import threading
import time

from flask import current_app

from smartcompute.jobs import admission
from web.problems import Problem
from web.runtime import statement_db, web_runtime

MEASURE_EVERY_SECONDS = 1.0
_EXTENSION = "smartcompute.backlog"


class _MeasuredBacklog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at = float("-inf")
        self.backlog: admission.Backlog | None = None

    def current(self, limits: admission.Limits) -> admission.Backlog:
        with self.lock:
            if self.backlog is None or time.monotonic() - self.at >= MEASURE_EVERY_SECONDS:
                self.backlog = admission.measure(statement_db(), limits)
                self.at = time.monotonic()
            return self.backlog


def refusal(priority: str) -> admission.Refusal | None:
    """Why a job of `priority` would be refused now, or None when it is admitted."""
    runtime = web_runtime()
    limits = admission.Limits(runtime.settings.LOAD_SHED_QUEUED_JOBS, runtime.settings.LOAD_SHED_WAIT_SECONDS)
    if not (limits.max_queued or limits.max_wait_seconds):
        return None
    measured = current_app.extensions.setdefault(_EXTENSION, _MeasuredBacklog())
    return admission.refusal(measured.current(limits), priority, limits)


def overloaded(refused: admission.Refusal, priority: str) -> Problem:
    """The 503 of a refused job, counted in /metrics (`smartcompute_jobs_shed_total`)."""
    web_runtime().request_metrics.count_shed(priority)
    return Problem(
        503,
        f"too much work is waiting: {refused.reason}; try again in {refused.retry_after} s",
        kind="overloaded",
        headers={"Retry-After": str(refused.retry_after)},
    )
