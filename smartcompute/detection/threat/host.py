"""Host-resource threats: ransomware-like disk I/O and resource exhaustion."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.incidents import quiet_gap
from smartcompute.detection.telemetry import iso8601
from smartcompute.detection.threat.context import HostContext
from smartcompute.detection.threat.findings import Finding
from smartcompute.detection.threat.metric_names import HostMetric
from smartcompute.detection.threat.network_volume import surge_evidence
from smartcompute.detection.threat.series import (
    Run,
    daily_recurrences,
    find_surges,
    run_duration,
    sample_interval,
    true_runs,
)

RANSOM_MIN_RATIO = 5.0
RANSOM_MIN_SIGMAS = 8.0
RANSOM_MIN_SECONDS = 180.0
RANSOM_MIN_CPU_RISE = 15.0  # percentage points above the hour before
EXHAUSTION_LEVEL = 95.0
EXHAUSTION_MIN_CLIMB = 15.0  # points climbed in the lookback: growth, not a host that always runs full
EXHAUSTION_LOOKBACK_SECONDS = 12 * 3600.0
EXHAUSTION_MIN_SECONDS = 5 * 60.0
CPU_PINNED_LEVEL = 98.0
CPU_PINNED_MIN_SECONDS = 30 * 60.0


def detect_ransomware_io(context: HostContext) -> list[Finding]:
    """Disk writes far above their baseline while CPU rises too: encryption reads, transforms, rewrites."""
    writes, cpu = context.required_metric("disk_write"), context.required_metric("cpu")
    reads = context.metric("disk_read")
    t = context.timestamps
    findings = []
    for surge in find_surges(
        t,
        writes.values,
        min_ratio=RANSOM_MIN_RATIO,
        min_sigmas=RANSOM_MIN_SIGMAS,
        min_duration_seconds=RANSOM_MIN_SECONDS,
    ):
        if daily_recurrences(t, writes.values, surge.start, surge.end, 0.5 * surge.peak):
            continue  # the same burst at the same time on other days is a scheduled job
        span = slice(surge.run.first, surge.run.last + 1)
        before = slice(max(0, surge.run.first - int(3600 / sample_interval(t))), surge.run.first)
        cpu_before = float(np.median(cpu.values[before])) if before.stop > before.start else float("nan")
        cpu_during = float(np.mean(cpu.values[span]))
        if not cpu_during - np.nan_to_num(cpu_before, nan=0.0) >= RANSOM_MIN_CPU_RISE:
            continue
        evidence = {
            writes.source_name: surge_evidence(surge),
            cpu.source_name: {
                "mean_during": cpu_during,
                "median_hour_before": cpu_before,
                "peak": float(np.max(cpu.values[span])),
            },
        }
        read_ratio = None
        if reads is not None and before.stop > before.start:
            read_ratio = float(np.mean(reads.values[span]) / max(np.median(reads.values[before]), 1e-9))
            evidence[reads.source_name] = {
                "mean_during": float(np.mean(reads.values[span])),
                "median_hour_before": float(np.median(reads.values[before])),
                "ratio": read_ratio,
            }
        reads_too = read_ratio is not None and read_ratio >= 3.0
        confidence = min(0.95, 0.6 + 0.1 * reads_too + 0.1 * (surge.ratio >= 20))
        findings.append(
            Finding(
                category="ransomware_io",
                severity="high",
                confidence=confidence,
                start=surge.start,
                end=surge.end,
                summary=f"{writes.source_name} at {surge.ratio:.0f}x its usual rate for "
                f"{surge.duration_seconds / 60:.0f} min while {cpu.source_name} averaged {cpu_during:.0f}%"
                + (f" (from {cpu_before:.0f}% the hour before)" if np.isfinite(cpu_before) else "")
                + (" and reads rose too" if reads_too else ""),
                evidence=evidence,
                recommendation="Find the process writing to disk (iotop, EDR), check recently modified files for "
                "encrypted content or ransom notes, isolate the host and verify offline backups.",
                indicators=("ransomware.write_burst_with_cpu",),
            )
        )
    return findings


def detect_resource_exhaustion(context: HostContext) -> list[Finding]:
    findings = []
    for name in ("memory", "disk_usage"):
        if (metric := context.metric(name)) is not None:
            findings.extend(_climb_to_full(context.timestamps, metric))
    if (cpu := context.metric("cpu")) is not None:
        findings.extend(_cpu_pinned(context.timestamps, cpu))
    return findings


def _climb_to_full(t: np.ndarray, metric: HostMetric) -> list[Finding]:
    values, interval = metric.values, sample_interval(t)
    findings = []
    for run in true_runs(values >= EXHAUSTION_LEVEL, t, quiet_gap(interval)):
        if run_duration(run, t, interval) < EXHAUSTION_MIN_SECONDS:
            continue
        lookback = slice(int(np.searchsorted(t, t[run.first] - EXHAUSTION_LOOKBACK_SECONDS)), run.first + 1)
        lowest = float(np.min(values[lookback]))
        climb = float(values[run.first] - lowest)
        if climb < EXHAUSTION_MIN_CLIMB:
            continue
        # The climb began the last time the value was still near its low, not at the low's noisy minimum.
        near_low = np.flatnonzero(values[lookback] <= lowest + 0.1 * climb)
        low_index = lookback.start + int(near_low[-1])
        findings.append(_exhaustion_finding(t, metric, run, low_index, interval))
    return findings


def _exhaustion_finding(t: np.ndarray, metric: HostMetric, run: Run, low_index: int, interval: float) -> Finding:
    values = metric.values
    climb_slice = slice(low_index, run.first + 1)
    hours = (t[climb_slice] - t[low_index]) / 3600.0
    rate = float(np.polyfit(hours, values[climb_slice], 1)[0]) if hours.size >= 2 else 0.0
    crossings = {}
    for level in (80.0, 90.0):
        below = np.flatnonzero(values[climb_slice] < level)
        if below.size and below[-1] + 1 < hours.size:
            crossings[f"crossed_{level:.0f}_at"] = iso8601(t[low_index + below[-1] + 1])
    peak = float(np.max(values[run.first : run.last + 1]))
    minutes = run_duration(run, t, interval) / 60
    return Finding(
        category="resource_exhaustion",
        severity="critical" if peak >= 99.0 else "high",
        confidence=float(min(0.95, 0.7 + 0.01 * (values[run.first] - values[low_index] - EXHAUSTION_MIN_CLIMB))),
        start=float(t[run.first]),
        end=float(t[run.last]),
        summary=f"{metric.source_name} climbed from {values[low_index]:.1f}% to {peak:.1f}% "
        f"(~{rate:.1f} points/hour) and stayed at or above {EXHAUSTION_LEVEL:.0f}% for {minutes:.0f} min",
        evidence={
            "metric": metric.source_name,
            "climb_started_at": iso8601(t[low_index]),
            "value_at_climb_start": float(values[low_index]),
            "growth_points_per_hour": rate,
            "peak": peak,
            "minutes_at_or_above_95": minutes,
            **crossings,
        },
        recommendation=f"Find what is consuming {metric.canonical.replace('_', ' ')} (a leak or runaway job, "
        f"or a log/upload filling the disk), restart or cap it, and alert at 85% before it runs out.",
        indicators=(f"exhaustion.{metric.canonical}",),
    )


def _cpu_pinned(t: np.ndarray, cpu: HostMetric) -> list[Finding]:
    interval = sample_interval(t)
    findings = []
    for run in true_runs(cpu.values >= CPU_PINNED_LEVEL, t, 2.5 * interval):
        minutes = run_duration(run, t, interval) / 60
        if minutes * 60 < CPU_PINNED_MIN_SECONDS:
            continue
        findings.append(
            Finding(
                category="resource_exhaustion",
                severity="medium",
                confidence=0.6,
                start=float(t[run.first]),
                end=float(t[run.last]),
                summary=f"{cpu.source_name} at or above {CPU_PINNED_LEVEL:.0f}% for {minutes:.0f} min",
                evidence={
                    "metric": cpu.source_name,
                    "minutes_at_or_above_98": minutes,
                    "mean_during": float(np.mean(cpu.values[run.first : run.last + 1])),
                },
                recommendation="Identify the process holding the CPU; a pinned CPU starves every other service.",
                indicators=("exhaustion.cpu",),
            )
        )
    return findings
