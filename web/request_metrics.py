"""Requests answered and how long they took, for `/metrics`, summed over every API process.

gunicorn runs the API in several processes and a scrape reaches one of them. So each process writes its figures
to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, which web/gunicorn_conf.py sets up
before the processes start) and a scrape adds up every process's files. Without it (Flask's test client, `flask
run`) the figures are the one process's own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

# From a fast GET (a few milliseconds) to the 30 s at which gunicorn gives up on a request.
_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "unmatched"  # every path no route knows, as one label value, so a scan cannot add series


class RequestMetrics:
    def __init__(self, multiprocess_dir: str | None):
        self._multiprocess_dir = multiprocess_dir
        self._own = CollectorRegistry()
        # In multiprocess mode the values live in the files; a registry would only hold this process's copy.
        registry = None if multiprocess_dir else self._own
        self._answered = Counter(
            "smartcompute_http_requests",
            "Requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self._seconds = Histogram(
            "smartcompute_http_request_duration_seconds",
            "Seconds from a request's arrival to its response, by method and route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._shed = Counter(
            "smartcompute_jobs_shed",
            "Job submissions refused (503) because too much work was "
            "waiting for their priority (load shedding), by priority",
            ["priority"],
            registry=registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        route = route or UNMATCHED_ROUTE
        self._answered.labels(method, route, str(status)).inc()
        self._seconds.labels(method, route).observe(seconds)

    def count_shed(self, priority: str) -> None:
        self._shed.labels(priority).inc()

    def registry(self) -> CollectorRegistry:
        """Every API process's figures (in multiprocess mode), or this process's."""
        if not self._multiprocess_dir:
            return self._own
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=self._multiprocess_dir)
        return combined
