"""`GET /metrics`: the operator's gauges (`smartcompute.operations`) and the API's request counts and durations
(`web.request_metrics`) in Prometheus' text format, behind basic auth from METRICS_BASIC_AUTH. Celery's own task
and worker metrics are Flower's `/metrics`."""

from __future__ import annotations

import hmac
import math

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from smartcompute import operations
from smartcompute.jobs.enums import LIVE_STATUSES, JobType
from web.problems import Problem
from web.runtime import db, web_runtime

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    expected = web_runtime().settings.METRICS_BASIC_AUTH
    if expected is None:
        raise Problem(404, "metrics are not enabled (set METRICS_BASIC_AUTH)", kind="not-found")
    if not _credentials_match(expected):
        raise Problem(
            401,
            "send the METRICS_BASIC_AUTH user and password",
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'Basic realm="metrics"'},
        )
    gauges = generate_latest(_registry(operations.snapshot(db())))
    requests = generate_latest(web_runtime().request_metrics.registry())
    return Response(gauges + requests, content_type=CONTENT_TYPE_LATEST)


def _credentials_match(expected: str) -> bool:
    given = request.authorization
    if given is None or given.type != "basic":
        return False
    sent = f"{given.username or ''}:{given.password or ''}".encode()
    return hmac.compare_digest(sent, expected.encode())


class _Snapshot(Collector):
    """The gauges of one snapshot, built as metric families: a `Gauge` would be a per-process file value in
    prometheus_client's multiprocess mode, and each process's copy would come back with a pid label."""

    def __init__(self, snapshot: operations.Snapshot):
        self._snapshot = snapshot

    def collect(self):
        snapshot = self._snapshot
        live = GaugeMetricFamily(
            "smartcompute_jobs", "Jobs waiting or being analysed, by type and status", labels=["type", "status"]
        )
        for job_type in JobType:
            for status in LIVE_STATUSES:
                live.add_metric([job_type, status], snapshot.live_jobs.get((job_type, status), 0))
        callbacks = GaugeMetricFamily(
            "smartcompute_job_callbacks",
            "Callbacks of finished jobs not delivered: pending (being tried) or given_up (every retry failed)",
            labels=["state"],
        )
        callbacks.add_metric(["pending"], snapshot.callbacks_pending)
        callbacks.add_metric(["given_up"], snapshot.callbacks_given_up)
        rounds = GaugeMetricFamily(
            "smartcompute_maintenance_round_age_seconds",
            "Seconds since each scheduled round last finished (+Inf: never): re-sending "
            "what the broker never got, expiring overdue payments",
            labels=["round"],
        )
        for name, age in snapshot.round_ages.items():
            rounds.add_metric([name], math.inf if age is None else age)
        return [
            rounds,
            live,
            GaugeMetricFamily(
                "smartcompute_oldest_queued_job_age_seconds",
                "How long the oldest queued job has waited (0: none waits)",
                value=snapshot.oldest_queued_seconds,
            ),
            callbacks,
            GaugeMetricFamily(
                "smartcompute_dead_payment_events",
                "Payment events dead-lettered after failing every attempt",
                value=snapshot.dead_payment_events,
            ),
            GaugeMetricFamily(
                "smartcompute_payments_in_review",
                "Payments whose confirmation credited nothing (another currency, no or a bad amount), "
                "waiting for staff",
                value=snapshot.payments_in_review,
            ),
        ]


def _registry(snapshot: operations.Snapshot) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return registry
