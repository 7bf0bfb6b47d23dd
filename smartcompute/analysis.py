"""What each job type runs: the one entry point the workers call to analyse a job's telemetry.

Swapping a detector means changing what `analyze` dispatches to; `web/` and `workers/` never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from smartcompute.detection.anomaly_report import analyze_anomalies
from smartcompute.detection.performance import analyze_performance
from smartcompute.detection.telemetry import InvalidTelemetry, Telemetry, parse_telemetry
from smartcompute.detection.threat import analyze_threats
from smartcompute.detection.threat.metric_names import recognise_metrics
from smartcompute.jobs.enums import JobType

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class Analysis:
    result: dict[str, Any]
    baseline: dict[str, Any] | None  # the host's detector state to keep, when the job type learns one


# Job types that read recognised metrics (cpu, memory, disk...) by what they mean, and so refuse values a
# metric cannot have (a negative byte count, a percentage over 100).
_READS_METRIC_MEANINGS = (JobType.THREAT_ANALYSIS, JobType.PERFORMANCE_ANALYSIS)


def validate(data: Mapping[str, Any], *, max_points: int, job_type: str | None = None) -> Telemetry:
    """Everything that can be checked before a job of this type is queued; raises InvalidTelemetry."""
    telemetry = parse_telemetry(data, max_points=max_points)
    if job_type in _READS_METRIC_MEANINGS:
        recognise_metrics(telemetry.metrics)
    return telemetry


def analyze(
    job_type: str,
    data: Mapping[str, Any],
    *,
    max_points: int,
    baseline: dict[str, Any] | None = None,
    on_progress: ProgressCallback = lambda fraction: None,
    learn: bool = True,
) -> Analysis:
    """`learn=False`: the learned state will not be kept (the job names no host), so none is returned."""
    telemetry = validate(data, max_points=max_points)
    on_progress(0.1)
    if job_type == JobType.ANOMALY_DETECTION:
        result, new_baseline = analyze_anomalies(telemetry, baseline, keep_state=learn)
        return Analysis(result, new_baseline)
    if job_type == JobType.THREAT_ANALYSIS:
        return Analysis(_with_warnings(analyze_threats(telemetry.in_time_order()), telemetry), None)
    if job_type == JobType.PERFORMANCE_ANALYSIS:
        return Analysis(_with_warnings(analyze_performance(telemetry.in_time_order()), telemetry), None)
    raise InvalidTelemetry([("type", f"unknown job type {job_type!r}")])


def _with_warnings(result: dict[str, Any], telemetry: Telemetry) -> dict[str, Any]:
    """Analyses of spans read the rows in time order; what was odd about the order is still said."""
    if telemetry.warnings:
        result["warnings"] = list(telemetry.warnings)
    return result


def learns_baseline(job_type: str) -> bool:
    return job_type == JobType.ANOMALY_DETECTION
