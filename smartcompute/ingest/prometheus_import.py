"""`smartcompute import prometheus`: a time range of Prometheus series submitted as jobs, and with `follow`, every
new span as it arrives. Prometheus keeps the data, so nothing needs a spool: a span is only passed once its jobs
were taken, and a span submitted again (after a restart) is an Idempotency-Key replay."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from collections.abc import Callable

from smartcompute.ingest.api_client import ApiClient, Refused, TryLater
from smartcompute.ingest.backoff import Backoff
from smartcompute.ingest.prometheus import (
    STEPS_PER_QUERY,
    Prometheus,
    PrometheusError,
    PrometheusUnavailable,
    Query,
    plan_jobs,
)

ONE_SHOT_PATIENCE = 600.0  # how long a one-off import waits for an unavailable API before it gives up


class ImportFailed(Exception):
    """The import cannot go on; the message is one line."""


@dataclass(frozen=True)
class Plan:
    queries: tuple[Query, ...]
    host_label: str
    step: float
    job_type: str
    max_points: int
    allow_partial: bool


@dataclass
class Totals:
    jobs: int = 0
    points: int = 0
    refused: int = 0
    hosts: set[str] = field(default_factory=set)


class PrometheusImport:
    def __init__(
        self,
        prometheus: Prometheus,
        client: ApiClient,
        plan: Plan,
        *,
        echo: Callable[..., None],
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.prometheus, self.client, self.plan, self.echo, self.sleep = prometheus, client, plan, echo, sleep
        self.totals = Totals()
        self._source = "\n".join(
            [
                prometheus.url,
                plan.host_label,
                plan.job_type,
                *(f"{query.name}={query.expression}" for query in plan.queries),
            ]
        )

    def span(self, start: float, end: float, *, patience: float | None = ONE_SHOT_PATIENCE) -> None:
        """Submit [start, end], evaluated at multiples of the step, a query window at a time."""
        step = self.plan.step
        window_start = math.ceil(start / step) * step
        while window_start <= end:
            window_end = min(end, window_start + (STEPS_PER_QUERY - 1) * step)
            self._window(window_start, window_end, patience)
            window_start = window_end + step

    def follow(self, start: float | None, every: float, *, clock: Callable[[], float] = time.time) -> None:
        """From `start` (or now) on, submit each new span once `every` has passed; never returns. The newest step
        is left for the next span: Prometheus may still be scraping it."""
        step, backoff = self.plan.step, Backoff(ceiling=every)
        cursor = _settled(clock(), step) if start is None else math.ceil(start / step) * step - step
        while True:
            settled = _settled(clock(), step)
            if settled - cursor >= every:
                try:
                    self.span(cursor + step, settled, patience=None)
                    cursor = settled
                    backoff.reset()
                except PrometheusUnavailable as error:
                    delay = backoff.next_delay()
                    self.echo(f"{error}; trying again in {delay:.0f} s", err=True)
                    self.sleep(delay)
                    continue
            self.sleep(max(1.0, cursor + every + step - clock()))

    def _window(self, start: float, end: float, patience: float | None) -> None:
        series, notes = [], []
        for query in self.plan.queries:
            answer = self.prometheus.query_range(
                query, start, end, self.plan.step, allow_partial=self.plan.allow_partial
            )
            series += answer.series
            notes += answer.notes
        jobs, plan_notes = plan_jobs(
            series, host_label=self.plan.host_label, max_points=self.plan.max_points, source=self._source
        )
        for note in notes + plan_notes:
            self.echo(note, err=True)
        for job in jobs:
            submitted = self._submit(job, patience)
            if submitted is None:
                continue
            self.totals.jobs += 1
            self.totals.points += job.points
            self.totals.hosts.add(job.host)
            timestamps = job.data["timestamps"]
            self.echo(
                f"{job.host}: {len(job.data['metrics'])} metrics x {len(timestamps)} samples, "
                f"{_iso(timestamps[0])} to {_iso(timestamps[-1])}: job {submitted['id']}"
            )

    def _submit(self, job, patience: float | None) -> dict | None:
        backoff, waited = Backoff(), 0.0
        while True:
            try:
                return self.client.submit_job(self.plan.job_type, job.data, job.idempotency_key)
            except Refused as error:
                self.totals.refused += 1
                self.echo(f"{job.host}: the API refused a job: {error}", err=True)
                return None
            except TryLater as error:
                delay = backoff.next_delay(error.retry_after)
                if patience is not None and waited + delay > patience:
                    raise ImportFailed(f"gave up after {waited:.0f} s: {error}") from None
                self.echo(f"the API cannot take jobs now ({error}); trying again in {delay:.0f} s", err=True)
                self.sleep(delay)
                waited += delay


def _settled(now: float, step: float) -> float:
    """The latest evaluation time whose step has fully passed."""
    return math.floor(now / step) * step - step


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


__all__ = ["ImportFailed", "Plan", "PrometheusError", "PrometheusImport", "Query"]
