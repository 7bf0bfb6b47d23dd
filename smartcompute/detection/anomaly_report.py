"""The anomaly_detection job: score every metric of a host and report the anomaly windows."""
from __future__ import annotations

import numpy as np

from smartcompute.detection.anomaly import ALARM_LEVEL, AnomalyDetector, IncompatibleSnapshot, score_together
from smartcompute.detection.telemetry import MAX_METRICS, Telemetry, iso8601
from smartcompute.detection.threat.findings import severity_rank

BASELINE_VERSION = 1
SCORE_DECIMALS = 4
WINDOW_LEVEL = ALARM_LEVEL  # a point belongs to an anomaly window when its host score reaches this
WINDOW_MERGE_GAP = 12  # detections at most this many points apart form one window
# Peak host score at which a window reaches each severity (checked from the top).
SEVERITY_FLOORS = (("critical", 0.9), ("high", 0.75), ("medium", 0.6), ("low", 0.0))
# How far a window's values go beyond the metric's recent range (its RANGE_PERCENTILES over the RANGE_HISTORY
# points before the window), in widths of that range, for each severity. A window's severity is the higher of
# its score's and its size's: the score says how surprising a window is, and early in a host's history (the
# detector's learning period) it stays low even for a jump from 20% to 95% CPU. The percentiles leave out the
# few first points of an event that the score crosses the window level after. On NAB's public series (whole-
# file jobs, 55 windows), of the 28 windows that overlap a labelled anomaly, low went 12 -> 7 and high or
# critical 4 -> 10; of the 27 others, low 11 -> 8 and high or critical 9 -> 11 (see bench/README.md).
RANGE_PERCENTILES = (2, 98)
EXCESS_FLOORS = (("critical", 3.0), ("high", 1.5), ("medium", 0.5))
RANGE_HISTORY = 2000
MIN_RANGE_HISTORY = 30
# The metrics whose learned state a host's baseline keeps, the most recently scored: a host whose metric names
# keep changing (containers, disks) would otherwise grow its baseline with every job, by up to 5 MB a job.
BASELINE_METRICS = MAX_METRICS  # at least one job's


def analyze_anomalies(telemetry: Telemetry, baseline: dict | None, *,
                      keep_state: bool = True) -> tuple[dict, dict | None]:
    """Score each metric, combine them per point, and find the anomaly windows.

    Returns (result, new_baseline). `baseline` is the previous job's new_baseline
    for this host, or None to start cold; metrics it holds but this job lacks are
    carried over unchanged (the BASELINE_METRICS most recently scored), and metrics
    new to it (or dropped from it) start cold. The baseline is only a cache of learned
    state: a metric whose saved state this detector cannot continue (e.g. saved by an
    older version) starts cold too, and is named in the summary's "cold_start_metrics".
    With `keep_state` False no new baseline is built (None is returned).
    """
    snapshots = _baseline_snapshots(baseline)
    detectors, new_snapshots, cold_start = {}, dict(snapshots), []
    for name in telemetry.metrics:
        detector = _restored_detector(snapshots.get(name))
        if detector is None:
            detector = AnomalyDetector()
            cold_start.append(name)
        detectors[name] = detector
    scores = dict(zip(detectors, score_together(list(detectors.values()), list(telemetry.metrics.values()))))
    if keep_state:
        _keep_latest(new_snapshots, {name: detector.snapshot() for name, detector in detectors.items()})
    host_score = np.max(np.vstack(list(scores.values())), axis=0) if scores else np.zeros(telemetry.points)
    windows = find_windows(telemetry.timestamps, scores, host_score, telemetry.metrics)
    result = {
        "scores": {name: _rounded(metric_scores) for name, metric_scores in scores.items()},
        "host_score": _rounded(host_score),
        "windows": windows,
        "summary": {
            "host": telemetry.host,
            "points": telemetry.points,
            "metrics": len(scores),
            "windows": len(windows),
            "max_score": round(float(host_score.max()), SCORE_DECIMALS) if host_score.size else 0.0,
            "cold_start_metrics": sorted(cold_start),
        },
    }
    return result, ({"version": BASELINE_VERSION, "metrics": new_snapshots} if keep_state else None)


def find_windows(timestamps: np.ndarray, scores: dict[str, np.ndarray], host_score: np.ndarray,
                 values: dict[str, np.ndarray]) -> list[dict]:
    """Runs of host scores >= WINDOW_LEVEL, merged across short gaps, with the metrics that fired."""
    hits = np.flatnonzero(host_score >= WINDOW_LEVEL)
    if hits.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > WINDOW_MERGE_GAP)
    starts = np.concatenate([[hits[0]], hits[breaks + 1]])
    ends = np.concatenate([hits[breaks], [hits[-1]]])
    windows = []
    for start, end in zip(starts, ends):
        span = slice(start, end + 1)
        peak = float(host_score[span].max())
        fired = sorted(name for name, metric in scores.items() if metric[span].max() >= WINDOW_LEVEL)
        excess = max(range_excess(values[name][max(0, start - RANGE_HISTORY):start], values[name][span])
                     for name in fired)
        windows.append({
            "start": iso8601(timestamps[start]),
            "end": iso8601(timestamps[end]),
            "metrics": fired,
            "peak_score": round(peak, SCORE_DECIMALS),
            "severity": max(severity(peak), size_severity(excess), key=severity_rank),
        })
    return windows


def severity(peak_score: float) -> str:
    """The severity a window's peak score alone gives it."""
    return next(label for label, floor in SEVERITY_FLOORS if peak_score >= floor)


def size_severity(excess: float) -> str:
    """The severity a window's size alone gives it (see EXCESS_FLOORS)."""
    return next((label for label, floor in EXCESS_FLOORS if excess >= floor), "low")


def range_excess(history: np.ndarray, window: np.ndarray) -> float:
    """How far `window` goes beyond the RANGE_PERCENTILES of `history`, in widths of that range; 0 when the
    history is too short or flat to say what its range is."""
    history = history[np.isfinite(history)]
    if history.size < MIN_RANGE_HISTORY:
        return 0.0
    low, high = np.percentile(history, RANGE_PERCENTILES)
    width = high - low
    if not width > 1e-9 * max(1.0, abs(high), abs(low)):
        return 0.0
    window = window[np.isfinite(window)]
    if window.size == 0:
        return 0.0
    return max(float(window.max()) - high, low - float(window.min()), 0.0) / width


def _keep_latest(snapshots: dict[str, dict], scored: dict[str, dict]) -> None:
    """Put this job's snapshots last (the baseline keeps them in the order they were scored), then drop the
    oldest beyond BASELINE_METRICS."""
    for name, snapshot in scored.items():
        snapshots.pop(name, None)
        snapshots[name] = snapshot
    for name in list(snapshots)[:max(0, len(snapshots) - BASELINE_METRICS)]:
        del snapshots[name]


def _restored_detector(snapshot: dict | None) -> AnomalyDetector | None:
    """A fresh detector for a metric without saved state; None when its saved state is unusable."""
    if snapshot is None:
        return AnomalyDetector()
    try:
        return AnomalyDetector.from_snapshot(snapshot)
    except IncompatibleSnapshot:
        return None


def _baseline_snapshots(baseline: dict | None) -> dict[str, dict]:
    if baseline is None:
        return {}
    if not isinstance(baseline, dict) or baseline.get("version") != BASELINE_VERSION:
        version = baseline.get("version") if isinstance(baseline, dict) else None
        raise IncompatibleSnapshot(
            f"anomaly baseline version {version!r} is not supported (expected {BASELINE_VERSION})")
    metrics = baseline.get("metrics")
    if not isinstance(metrics, dict):
        raise IncompatibleSnapshot("anomaly baseline has no 'metrics' object")
    return metrics


def _rounded(scores: np.ndarray) -> list[float]:
    return np.round(np.clip(scores, 0.0, 1.0), SCORE_DECIMALS).tolist()
