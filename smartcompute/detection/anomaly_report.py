"""The anomaly_detection job: score every metric of a host and report the anomaly windows."""
from __future__ import annotations

import numpy as np

from smartcompute.detection.anomaly import ALARM_LEVEL, AnomalyDetector, IncompatibleSnapshot, score_together
from smartcompute.detection.telemetry import Telemetry, iso8601

BASELINE_VERSION = 1
SCORE_DECIMALS = 4
WINDOW_LEVEL = ALARM_LEVEL  # a point belongs to an anomaly window when its host score reaches this
WINDOW_MERGE_GAP = 12  # detections at most this many points apart form one window
# Peak host score at which a window reaches each severity (checked from the top).
SEVERITY_FLOORS = (("critical", 0.9), ("high", 0.75), ("medium", 0.6), ("low", 0.0))


def analyze_anomalies(telemetry: Telemetry, baseline: dict | None, *,
                      keep_state: bool = True) -> tuple[dict, dict | None]:
    """Score each metric, combine them per point, and find the anomaly windows.

    Returns (result, new_baseline). `baseline` is the previous job's new_baseline
    for this host, or None to start cold; metrics it holds but this job lacks are
    carried over unchanged, and metrics new to it start cold. The baseline is only
    a cache of learned state: a metric whose saved state this detector cannot
    continue (e.g. saved by an older version) starts cold too, and is named in the
    summary's "cold_start_metrics". With `keep_state` False no new baseline is built (None is returned).
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
        new_snapshots.update((name, detector.snapshot()) for name, detector in detectors.items())
    host_score = np.max(np.vstack(list(scores.values())), axis=0) if scores else np.zeros(telemetry.points)
    windows = find_windows(telemetry.timestamps, scores, host_score)
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


def find_windows(timestamps: np.ndarray, scores: dict[str, np.ndarray], host_score: np.ndarray) -> list[dict]:
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
        windows.append({
            "start": iso8601(timestamps[start]),
            "end": iso8601(timestamps[end]),
            "metrics": sorted(name for name, metric in scores.items() if metric[span].max() >= WINDOW_LEVEL),
            "peak_score": round(peak, SCORE_DECIMALS),
            "severity": severity(peak),
        })
    return windows


def severity(peak_score: float) -> str:
    return next(label for label, floor in SEVERITY_FLOORS if peak_score >= floor)


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
