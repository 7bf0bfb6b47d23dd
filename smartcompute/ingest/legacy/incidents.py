"""The legacy monitor's alerts as incidents: its alerted samples (and the samples its security alerts point at),
one incident per run of them with no more than the detector's quiet gap between, told in the fields of today's
incidents (docs/detection.md) plus what the legacy monitor said of them."""

from __future__ import annotations

import statistics
from typing import Any

from smartcompute.detection.incidents import SEVERITIES, quiet_gap
from smartcompute.detection.parameters import SPIKE_DURATION
from smartcompute.detection.telemetry import iso8601
from smartcompute.ingest.legacy.records import Alert, Baseline, Sample

_SEVERITY_WORDS = {
    "info": "low",
    "informational": "low",
    "minor": "low",
    "warning": "medium",
    "warn": "medium",
    "moderate": "medium",
    "major": "high",
    "error": "high",
    "severe": "high",
    "emergency": "critical",
}
ZSCORE_INVOLVED = 2.0  # a metric whose z-score reached this in an alerted sample took part in the incident


def severity(word: str | None) -> str:
    lowered = (word or "").strip().lower()
    return lowered if lowered in SEVERITIES else _SEVERITY_WORDS.get(lowered, "medium")


def legacy_incidents(
    samples: list[Sample], alerts: dict[Any, list[Alert]], baselines: dict[Any, Baseline]
) -> list[dict]:
    """`samples`: one host's, in time order. `alerts`: security alerts by the detection they point at."""
    alerted = [sample for sample in samples if sample.alerted or sample.id in alerts]
    if not alerted:
        return []
    gaps = [later.time - earlier.time for earlier, later in zip(samples, samples[1:]) if later.time > earlier.time]
    gap = quiet_gap(statistics.median(gaps) if gaps else 60.0)
    runs, current = [], [alerted[0]]
    for sample in alerted[1:]:
        if sample.time - current[-1].time > gap:
            runs.append(current)
            current = []
        current.append(sample)
    runs.append(current)
    return [_incident(run, [alert for sample in run for alert in alerts.get(sample.id, [])], baselines) for run in runs]


def _incident(run: list[Sample], alerts: list[Alert], baselines: dict[Any, Baseline]) -> dict:
    start, end = run[0].time, run[-1].time
    peak = max(run, key=lambda sample: sample.score if sample.score is not None else -1.0)
    metrics = [
        name
        for name, zscore in (("cpu_percent", "cpu_zscore"), ("memory_percent", "memory_zscore"))
        if any(abs(getattr(sample, zscore) or 0.0) >= ZSCORE_INVOLVED for sample in run)
    ]
    metrics = metrics or ["cpu_percent", "memory_percent"]
    baseline = baselines.get(peak.baseline_id)
    words = [alert.severity for alert in alerts] + [sample.severity for sample in run if sample.severity]
    acknowledged = [alert for alert in alerts if alert.acknowledged]
    direction = sum((sample.cpu_zscore or 0.0) + (sample.memory_zscore or 0.0) for sample in run)
    return {
        "start": iso8601(start),
        "end": iso8601(end),
        "duration_seconds": round(end - start, 3),
        "status": "closed",
        "resolution": None,
        "kind": "spike" if end - start <= SPIKE_DURATION else "level_shift",
        "direction": "down" if direction < 0 else "up",
        "metrics": metrics,
        "detected_at": iso8601(start),
        "peak_score": None,
        "peak_at": iso8601(peak.time),
        "severity": max((severity(word) for word in words), key=SEVERITIES.index, default="medium"),
        "reference": {name: _reference(name, baseline, run) for name in metrics},
        "imported": {
            "from": "legacy SmartCompute",
            "samples": len(run),
            "peak_anomaly_score": peak.score,
            "severity": sorted({word for word in words}),
            "alerts": len(alerts),
            "messages": list(dict.fromkeys(alert.message for alert in alerts))[:5],
            "acknowledged": bool(alerts) and len(acknowledged) == len(alerts),
            "alerts_acknowledged": len(acknowledged),
            "acknowledged_by": sorted({alert.acknowledged_by for alert in acknowledged if alert.acknowledged_by}),
            "acknowledged_at": max(
                (iso8601(alert.acknowledged_at) for alert in acknowledged if alert.acknowledged_at is not None),
                default=None,
            ),
            "sessions": sorted({alert.session for alert in alerts if alert.session}),
            "detection_ids": [sample.id for sample in run][:100],
            "alert_ids": [alert.id for alert in alerts][:100],
        },
    }


def _reference(metric: str, baseline: Baseline | None, run: list[Sample]) -> dict:
    """What the legacy monitor judged the metric against: its baseline's mean and spread."""
    prefix = "cpu" if metric == "cpu_percent" else "memory"
    reference: dict[str, Any] = {"peak_value": max(sample.metrics[metric] for sample in run)}
    if baseline is not None:
        reference.update(
            mean=getattr(baseline, f"{prefix}_mean"), stdev=getattr(baseline, f"{prefix}_stdev"), baseline=baseline.name
        )
    return reference
