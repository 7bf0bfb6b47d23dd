"""Reading Prometheus: range queries over its HTTP API, and the series they return grouped into jobs per host.

Prometheus' HTTP API is one JSON request here; its Python clients bring pandas and more, so it is read with
urllib3. Points that are not numbers (NaN, from a division by zero or a stale series; infinities) are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import dataclass, field

import urllib3

from smartcompute import jsoncodec
from smartcompute.detection.telemetry import MAX_METRICS
from smartcompute.ingest.naming import metric_name

STEPS_PER_QUERY = 10_000  # Prometheus answers at most 11,000 points per series in one range query
_NAMED_QUERY = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)=(?!=)(.+)$", re.S)


class PrometheusError(Exception):
    """Prometheus refused the query or could not be read; the message is one line."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus is unreachable or overloaded: the same query may work later."""


@dataclass(frozen=True)
class Query:
    """A PromQL expression, and the name of its series that have none (a rate() drops the metric's name)."""

    expression: str
    name: str = "value"

    @classmethod
    def parse(cls, text: str) -> Query:
        """`NAME=EXPR` names the expression's unnamed series; a bare expression's are named `value`."""
        named = _NAMED_QUERY.match(text.strip())
        return cls(named.group(2).strip(), named.group(1)) if named else cls(text.strip())


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass
class Answer:
    series: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Prometheus' infos, and what was left out and why


class Prometheus:
    def __init__(
        self, url: str, *, basic_auth: str | None = None, bearer_token: str | None = None, timeout: float = 30.0
    ):
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if basic_auth:
            self._headers["Authorization"] = "Basic " + base64.b64encode(basic_auth.encode()).decode()
        elif bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout))

    def query_range(
        self, query: Query, start: float, end: float, step: float, *, allow_partial: bool = False
    ) -> Answer:
        fields = {
            "query": query.expression,
            "start": _number(start),
            "end": _number(end),
            "step": _number(step),
            "partial_response": "false",
        }  # Thanos and Cortex then fail rather than answer with a part
        try:
            response = self._http.request_encode_body(
                "POST", f"{self.url}/api/v1/query_range", fields=fields, headers=self._headers, encode_multipart=False
            )
        except urllib3.exceptions.HTTPError as error:
            reason = " ".join(str(getattr(error, "reason", None) or error).split())
            raise PrometheusUnavailable(
                f"cannot reach Prometheus at {self.url}: "
                f"{reason.rsplit('Failed to establish a new connection: ', 1)[-1]}"
            ) from None
        body = _json_or_none(response.data)
        if response.status in (401, 403):
            raise PrometheusError(
                f"Prometheus refused the credentials ({response.status}): set PROMETHEUS_BASIC_AUTH "
                "or PROMETHEUS_BEARER_TOKEN"
            )
        if not isinstance(body, dict) or body.get("status") != "success":
            raise _failure(response.status, body, response.data)
        return _answer(body, query, allow_partial)


def _failure(status: int, body: object, raw: bytes) -> PrometheusError:
    kind = PrometheusUnavailable if status in (429, 502, 503, 504) else PrometheusError
    if isinstance(body, dict) and body.get("error"):
        return kind(f"Prometheus: {body.get('errorType', 'error')}: {' '.join(str(body['error']).split())}")
    return kind(f"Prometheus answered {status}: {' '.join(raw[:200].decode(errors='replace').split()) or 'no body'}")


def _answer(body: dict, query: Query, allow_partial: bool) -> Answer:
    warnings = [" ".join(str(text).split()) for text in body.get("warnings") or []]
    if warnings and not allow_partial:
        raise PrometheusError(
            f"Prometheus warned that its answer may be incomplete ({'; '.join(warnings)}); "
            "--allow-partial imports it anyway"
        )
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise PrometheusError(f"the query gave a {data.get('resultType')}, not series over time: {query.expression}")
    answer = Answer(
        notes=[f"Prometheus: {' '.join(str(text).split())}" for text in body.get("infos") or []]
        + [f"Prometheus warning: {text}" for text in warnings]
    )
    histograms = 0
    for item in data.get("result") or []:
        labels = {str(key): str(value) for key, value in (item.get("metric") or {}).items()}
        points = [(float(time), float(value)) for time, value in item.get("values") or []]
        points = [(time, value) for time, value in points if math.isfinite(value)]
        histograms += bool(item.get("histograms"))
        if points:
            if "__name__" not in labels:
                labels["__name__"] = query.name
            times, values = zip(*points)
            answer.series.append(Series(labels, times, values))
    if histograms:
        answer.notes.append(f"{histograms} native histogram series left out: query a histogram_quantile() of them")
    return answer


@dataclass(frozen=True)
class PlannedJob:
    host: str
    data: dict
    idempotency_key: str

    @property
    def points(self) -> int:
        return len(self.data["timestamps"]) * len(self.data["metrics"])


def plan_jobs(
    series: list[Series], *, host_label: str, max_points: int, source: str
) -> tuple[list[PlannedJob], list[str]]:
    """Jobs for these series: one host each, named by `host_label`; each metric named from its labels (but the
    host's); metrics sampled at the same times together, in jobs of at most `max_points` points and MAX_METRICS
    metrics. `source` (the server and queries) goes into each job's Idempotency-Key. Returns (jobs, notes)."""
    hosts: dict[str, dict[str, Series]] = {}
    unlabelled = duplicates = 0
    for item in series:
        host = item.labels.get(host_label)
        if not host:
            unlabelled += 1
            continue
        name = metric_name(
            item.labels["__name__"],
            {key: value for key, value in item.labels.items() if key not in ("__name__", host_label)},
        )
        if name in hosts.setdefault(host[:255], {}):
            duplicates += 1
            continue
        hosts[host[:255]][name] = item
    jobs = [job for host, metrics in sorted(hosts.items()) for job in _host_jobs(host, metrics, max_points, source)]
    notes = []
    if unlabelled:
        notes.append(f"{unlabelled} series without a {host_label!r} label left out (--host-label names the label)")
    if duplicates:
        notes.append(f"{duplicates} series left out: another series of the same host has the same name and labels")
    return jobs, notes


def _host_jobs(host: str, metrics: dict[str, Series], max_points: int, source: str) -> list[PlannedJob]:
    by_times: dict[tuple[float, ...], list[str]] = {}
    for name, item in sorted(metrics.items()):
        by_times.setdefault(item.times, []).append(name)
    jobs = []
    for times, names in by_times.items():
        for first_metric in range(0, len(names), MAX_METRICS):
            chosen = names[first_metric : first_metric + MAX_METRICS]
            per_job = max(1, max_points // len(chosen))
            for first in range(0, len(times), per_job):
                span = slice(first, first + per_job)
                timestamps = list(times[span])
                data = {
                    "timestamps": timestamps,
                    "host": host,
                    "metrics": {name: list(metrics[name].values[span]) for name in chosen},
                }
                jobs.append(PlannedJob(host, data, _key(source, host, chosen, timestamps)))
    return jobs


def _key(source: str, host: str, names: list[str], timestamps: list[float]) -> str:
    digest = hashlib.sha256(jsoncodec.dumps_bytes([source, host, names, timestamps[0], timestamps[-1]])).hexdigest()
    return f"prometheus:{digest[:48]}"


def _number(value: float) -> str:
    return repr(float(value))


def _json_or_none(raw: bytes) -> object:
    try:
        return jsoncodec.loads(raw)
    except ValueError:
        return None
