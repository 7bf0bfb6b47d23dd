"""`GET /metrics`: the operator's gauges (`smartcompute.operations`) and the API's request counts and durations
(`web.request_metrics`) in Prometheus' text format, behind basic auth from METRICS_BASIC_AUTH. Celery's own task
and worker metrics are Flower's `/metrics`."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from smartcompute import operations
from smartcompute.jobs.models import JOB_TYPES
from web.problems import Problem
from web.runtime import db, web_runtime

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    expected = web_runtime().settings.METRICS_BASIC_AUTH
    if expected is None:
        raise Problem(404, "metrics are not enabled (set METRICS_BASIC_AUTH)", kind="not-found")
    if not _credentials_match(expected):
        raise Problem(401, "send the METRICS_BASIC_AUTH user and password", kind="unauthenticated",
                      headers={"WWW-Authenticate": 'Basic realm="metrics"'})
    gauges = generate_latest(_registry(operations.snapshot(db())))
    requests = generate_latest(web_runtime().request_metrics.registry())
    return Response(gauges + requests, content_type=CONTENT_TYPE_LATEST)


def _credentials_match(expected: str) -> bool:
    given = request.authorization
    if given is None or given.type != "basic":
        return False
    sent = f"{given.username or ''}:{given.password or ''}".encode()
    return hmac.compare_digest(sent, expected.encode())


def _registry(snapshot: operations.Snapshot) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    live = Gauge("smartcompute_jobs", "Jobs waiting or being analysed, by type and status",
                 ["type", "status"], registry=registry)
    for job_type in JOB_TYPES:
        for status in ("queued", "running"):
            live.labels(job_type, status).set(snapshot.live_jobs.get((job_type, status), 0))
    Gauge("smartcompute_oldest_queued_job_age_seconds", "How long the oldest queued job has waited (0: none waits)",
          registry=registry).set(snapshot.oldest_queued_seconds)
    callbacks = Gauge("smartcompute_job_callbacks", "Callbacks of finished jobs not delivered: pending (being "
                      "tried) or given_up (every retry failed)", ["state"], registry=registry)
    callbacks.labels("pending").set(snapshot.callbacks_pending)
    callbacks.labels("given_up").set(snapshot.callbacks_given_up)
    Gauge("smartcompute_dead_payment_events", "Payment events dead-lettered after failing every attempt",
          registry=registry).set(snapshot.dead_payment_events)
    return registry
