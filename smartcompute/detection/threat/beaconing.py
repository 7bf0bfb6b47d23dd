"""Beaconing: one flow repeating at a steady interval, the heartbeat of most command-and-control implants."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.threat.context import HostContext, group_rows, is_internal_address
from smartcompute.detection.threat.findings import Finding

MIN_BEATS = 12
MIN_INTERVAL_SECONDS = 5.0  # faster than this is streaming or polling a local service
MAX_INTERVAL_SECONDS = 6 * 3600.0
MAX_JITTER_RATIO = 0.2  # robust spread of the intervals / the interval
MIN_ON_BEAT_FRACTION = 0.7  # intervals within 25% of the typical one (a missed beat is allowed)
SAME_BEAT_SECONDS = 1.0  # connections this close together belong to one beat
# Time protocols and DNS resolvers poll on their own schedules; they are not beacons.
_INFRASTRUCTURE = {("udp", 53), ("udp", 123), ("tcp", 53)}


def detect_beaconing(context: HostContext) -> list[Finding]:
    conns = context.required_connections()
    flow_rows = group_rows(conns.flow_keys)  # stable sort of time-sorted rows: each flow stays in time order
    flow, times = conns.flow_keys[flow_rows.order], conns.timestamp[flow_rows.order]
    gaps = np.diff(times)
    keep = (flow[1:] == flow[:-1]) & (gaps >= SAME_BEAT_SECONDS)
    intervals, interval_flow = gaps[keep], flow[1:][keep]
    if intervals.size == 0:
        return []
    flows, group, counts = np.unique(interval_flow, return_inverse=True, return_counts=True)
    typical = _group_median(intervals, group, counts)
    spread = 1.4826 * _group_median(np.abs(intervals - typical[group]), group, counts)
    on_beat = (
        np.bincount(group, weights=np.abs(intervals - typical[group]) <= 0.25 * typical[group], minlength=flows.size)
        / counts
    )
    steady = (
        (counts >= MIN_BEATS - 1)
        & (typical >= MIN_INTERVAL_SECONDS)
        & (typical <= MAX_INTERVAL_SECONDS)
        & (spread <= MAX_JITTER_RATIO * typical)
        & (on_beat >= MIN_ON_BEAT_FRACTION)
    )
    findings = []
    for index in np.flatnonzero(steady):
        rows = flow_rows.rows_of(int(np.searchsorted(flow_rows.keys, flows[index])))
        finding = _beacon_finding(context, rows, float(typical[index]), float(spread[index]), float(on_beat[index]))
        if finding is not None:
            findings.append(finding)
    return findings


def _group_median(values: np.ndarray, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of values per group label (0..n-1), all groups at once: sort by (group, value), pick middles."""
    ordered = values[np.lexsort((values, group))]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    lower = ordered[starts + (counts - 1) // 2]
    upper = ordered[starts + counts // 2]
    return (lower + upper) / 2.0


def _beacon_finding(
    context: HostContext, rows: np.ndarray, interval: float, jitter: float, on_beat: float
) -> Finding | None:
    conns = context.required_connections()
    src, dst, port = conns.split_flow_key(int(conns.flow_keys[rows[0]]))
    protocol = str(conns.protocol_names[np.bincount(conns.protocol[rows]).argmax()])
    if is_internal_address(dst) or (protocol, port) in _INFRASTRUCTURE:
        return None
    start, end = float(conns.timestamp[rows[0]]), float(conns.timestamp[rows[-1]])
    jitter_ratio = jitter / interval
    beats = int(round((end - start) / interval)) + 1
    confidence = float(
        np.clip(0.55 + 0.3 * (1 - jitter_ratio / MAX_JITTER_RATIO) + 0.1 * min(1.0, rows.size / 100), 0.5, 0.95)
    )
    evidence = {
        "src_ip": src,
        "dst_ip": dst,
        "dst_port": port,
        "protocol": protocol,
        "connections": rows.size,
        "interval_seconds": interval,
        "jitter_seconds": jitter,
        "jitter_ratio": jitter_ratio,
        "on_beat_fraction": on_beat,
        "expected_beats": beats,
        "median_bytes_out": float(np.median(conns.bytes_out[rows])),
        "median_bytes_in": float(np.median(conns.bytes_in[rows])),
        "total_bytes_out": float(conns.bytes_out[rows].sum()),
    }
    return Finding(
        category="beaconing",
        severity="high" if rows.size >= 60 and jitter_ratio <= 0.1 else "medium",
        confidence=confidence,
        start=start,
        end=end,
        summary=f"{src} contacted {dst}:{port}/{protocol} {rows.size} times every {interval:.1f} s "
        f"(jitter {jitter:.1f} s, {jitter_ratio:.0%})",
        evidence=evidence,
        recommendation=f"Identify the process that opens connections to {dst}:{port} (e.g. ss -tp or EDR "
        f"telemetry); unless it is a known agent, block {dst} and investigate the host for an implant.",
        indicators=("beaconing.periodic_flow",),
    )
