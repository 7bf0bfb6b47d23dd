"""The anomaly_detection job: score every metric of a host and report its incidents."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from smartcompute.detection.incidents import SCORE_DECIMALS, gap_incidents, merge, quiet_gap
from smartcompute.detection.metric_stream import MetricStream, onset_threshold
from smartcompute.detection.parameters import HISTORY_POINTS
from smartcompute.detection.stream_state import IncompatibleState
from smartcompute.detection.telemetry import MAX_METRICS, Telemetry

BASELINE_VERSION = 2
# The metrics whose learned state a host's baseline keeps, the most recently scored: a host whose metric names
# keep changing (containers, disks) would otherwise grow its baseline with every job.
BASELINE_METRICS = MAX_METRICS  # at least one job's
GAP_SAMPLES = 5  # a pause of this many sampling intervals (and at least an incident's quiet gap) is a dropout
DEFAULT_STEP = 60.0  # the sampling interval assumed for a host that has sent a single sample


def analyze_anomalies(
    telemetry: Telemetry, baseline: dict | None, *, keep_state: bool = True
) -> tuple[dict, dict | None]:
    """Score each metric, and find the host's incidents.

    Returns (result, new_baseline). `baseline` is the previous job's new_baseline for this host, or None to
    start cold; metrics it holds but this job lacks are carried over unchanged (the BASELINE_METRICS most
    recently scored), and metrics new to it start cold. The baseline is only a cache of learned state: a
    metric whose saved state this detector cannot continue (saved by an older version) starts cold too, and
    is named in the summary's "cold_start_metrics". With `keep_state` False no new baseline is built.
    """
    saved = _baseline_states(baseline)
    streams, cold_start = {}, []
    for name in telemetry.metrics:
        streams[name] = _restored_stream(saved.get(name))
        if name not in saved or streams[name].points_seen == 0:
            cold_start.append(name)
    # A seeded baseline's samples were never sent by the host, so the time since them is no pause in its telemetry.
    previous_time = (
        None
        if _is_seeded(baseline)
        else max((stream.last_time for stream in streams.values() if stream.last_time is not None), default=None)
    )
    step = _sampling_interval(telemetry.timestamps, streams)
    threshold = onset_threshold(step, len(streams))
    outcomes = {
        name: stream.process(telemetry.timestamps, telemetry.metrics[name], threshold)
        for name, stream in streams.items()
    }
    last_time = float(telemetry.timestamps.max())
    metric_incidents = [
        (name, item)
        for name, outcome in outcomes.items()
        for item in outcome.closed + ([outcome.open_incident] if outcome.open_incident else [])
    ]
    incidents = merge(metric_incidents, quiet_gap(step), last_time)
    incidents += gap_incidents(
        telemetry.timestamps, previous_time, step, max(GAP_SAMPLES * step, quiet_gap(step)), list(streams)
    )
    incidents.sort(key=lambda incident: incident["start"])
    scores = {name: outcome.scores for name, outcome in outcomes.items()}
    host_score = np.max(np.vstack(list(scores.values())), axis=0)
    result = {
        "scores": {name: _rounded(metric_scores) for name, metric_scores in scores.items()},
        "host_score": _rounded(host_score),
        "incidents": incidents,
        "windows": [_window(incident) for incident in incidents if incident["peak_score"] is not None],
        "summary": {
            "host": telemetry.host,
            "points": telemetry.points,
            "metrics": len(scores),
            "incidents": len(incidents),
            "open_incidents": sum(incident["status"] == "open" for incident in incidents),
            "max_score": round(float(host_score.max()), SCORE_DECIMALS),
            "onset_score": 0.5,
            "sampling_interval_seconds": round(step, 3),
            "seasons": {name: stream.season for name, stream in streams.items()},
            "cold_start_metrics": sorted(cold_start),
            "warnings": list(telemetry.warnings),
        },
    }
    if not keep_state:
        return result, None
    states = dict(saved)
    _keep_latest(states, {name: stream.save() for name, stream in streams.items()})
    return result, {"version": BASELINE_VERSION, "metrics": states}


@dataclass(frozen=True)
class LearnedSummary:
    """What another monitor learned of a metric: its mean and spread over `samples` samples taken across
    `span_seconds`, and the range its values can take."""

    mean: float
    stdev: float
    samples: int
    span_seconds: float
    low: float = -np.inf
    high: float = np.inf


def seeded_baseline(summaries: dict[str, LearnedSummary], end: float) -> dict:
    """A host baseline whose metrics start warm from summaries alone. Each metric's clean history is the
    normal distribution's quantiles for its mean and spread (as many as it had samples, up to the history's
    size, in a fixed shuffled order so that they show no trend), spread over its span and ending at `end`.
    The host's first job reports no pause since then; the baseline it leaves is an ordinary one."""
    states = {}
    for name, summary in summaries.items():
        count = int(min(max(summary.samples, 1), HISTORY_POINTS))
        spread = NormalDist(summary.mean, summary.stdev) if summary.stdev > 0 else None
        quantiles = np.array([spread.inv_cdf((i + 0.5) / count) if spread else summary.mean for i in range(count)])
        values = np.clip(quantiles[np.random.default_rng(0).permutation(count)], summary.low, summary.high)
        step = max(summary.span_seconds / count, 1.0) if summary.span_seconds > 0 else DEFAULT_STEP
        stream = MetricStream()
        stream.learn(end - step * np.arange(count - 1, -1, -1, dtype=float), values)
        states[name] = stream.save()
    return {"version": BASELINE_VERSION, "metrics": states, "seeded": True}


def _is_seeded(baseline: dict | None) -> bool:
    return isinstance(baseline, dict) and baseline.get("seeded") is True


def _window(incident: dict) -> dict:
    """The deprecated `windows` entry of an incident (kept for one release; read `incidents`)."""
    return {
        "start": incident["start"],
        "end": incident["end"],
        "metrics": incident["metrics"],
        "peak_score": incident["peak_score"],
        "severity": incident["severity"],
    }


def _sampling_interval(timestamps: np.ndarray, streams: dict[str, MetricStream]) -> float:
    gaps = np.diff(timestamps)
    gaps = gaps[gaps > 0]
    if gaps.size:
        return float(np.median(gaps))
    known = [stream.step for stream in streams.values() if stream.step]
    return float(known[0]) if known else DEFAULT_STEP


def _keep_latest(states: dict[str, dict], scored: dict[str, dict]) -> None:
    """Put this job's states last (the baseline keeps them in the order they were scored), then drop the
    oldest beyond BASELINE_METRICS."""
    for name, state in scored.items():
        states.pop(name, None)
        states[name] = state
    for name in list(states)[: max(0, len(states) - BASELINE_METRICS)]:
        del states[name]


def _restored_stream(state: dict | None) -> MetricStream:
    """The metric's saved stream, or a fresh one when it has none or its state is unusable."""
    if state is None:
        return MetricStream()
    try:
        return MetricStream.load(state)
    except IncompatibleState:
        return MetricStream()


def _baseline_states(baseline: dict | None) -> dict[str, dict]:
    if baseline is None:
        return {}
    if not isinstance(baseline, dict) or baseline.get("version") != BASELINE_VERSION:
        return {}  # an older detector's baseline: every metric starts cold, and the summary says so
    metrics = baseline.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def _rounded(scores: np.ndarray) -> list[float]:
    return np.round(np.clip(scores, 0.0, 1.0), SCORE_DECIMALS).tolist()
