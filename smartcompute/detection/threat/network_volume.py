"""Volume anomalies on the wire: exfiltration (outbound, to rare destinations) and denial of service (inbound)."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.telemetry import iso8601
from smartcompute.detection.threat.context import ConnectionIndex, HostContext
from smartcompute.detection.threat.findings import Finding
from smartcompute.detection.threat.series import DAY, Surge, daily_recurrences, find_surges

BUCKET_SECONDS = 300.0
EXFIL_MIN_RATIO = 10.0  # outbound volume at least ten times the usual five-minute volume
EXFIL_MIN_SIGMAS = 8.0
EXFIL_MIN_BYTES = 5e6  # smaller uploads are not worth an alert on volume alone
RARE_HOUR_FRACTION = 0.1  # a destination seen in at most 10% of the other hours is rare
ROUTINE_SHARE = 0.25  # the same destination took at least this share at the same time on another day
DOS_MIN_RATIO = 5.0
DOS_MIN_SIGMAS = 8.0
DOS_MIN_SECONDS = 120.0


def outbound_volume(conns: ConnectionIndex) -> tuple[np.ndarray, np.ndarray]:
    """(bucket start times, bytes out per five-minute bucket), empty buckets included."""
    origin = np.floor(conns.timestamp[0] / BUCKET_SECONDS) * BUCKET_SECONDS
    bucket = ((conns.timestamp - origin) // BUCKET_SECONDS).astype(np.int64)
    volume = np.bincount(bucket, weights=conns.bytes_out)
    return origin + BUCKET_SECONDS * np.arange(volume.size), volume


def detect_exfiltration(context: HostContext) -> list[Finding]:
    conns = context.required_connections()
    times, volume = outbound_volume(conns)
    surges = find_surges(
        times, volume, min_ratio=EXFIL_MIN_RATIO, min_sigmas=EXFIL_MIN_SIGMAS, min_duration_seconds=BUCKET_SECONDS
    )
    findings = []
    for surge in surges:
        finding = _exfiltration_finding(context, surge)
        if finding is not None:
            findings.append(finding)
    return findings


def _exfiltration_finding(context: HostContext, surge: Surge) -> Finding | None:
    conns = context.required_connections()
    low, high = np.searchsorted(conns.timestamp, [surge.start, surge.end + BUCKET_SECONDS])
    rows = np.arange(low, high)
    total = float(conns.bytes_out[rows].sum())
    per_destination = np.bincount(conns.dst[rows], weights=conns.bytes_out[rows])
    ranked = np.argsort(per_destination)[::-1]
    share = np.cumsum(per_destination[ranked]) / total
    dominant = ranked[: min(5, int(np.searchsorted(share, 0.8)) + 1)]
    profiles = [_destination_profile(context, int(d), rows, surge) for d in dominant]
    suspicious = [p for p in profiles if p["rare"] and not p["routine_on_days"]]
    suspicious_bytes = sum(p["bytes_out"] for p in suspicious)
    # The rare destinations' share must be a surge on its own, whatever routine traffic shares the window.
    buckets = surge.duration_seconds / BUCKET_SECONDS
    if suspicious_bytes < max(EXFIL_MIN_RATIO * surge.baseline * buckets, EXFIL_MIN_BYTES):
        return None
    new_destination = any(p["hours_seen_outside_window"] == 0 for p in suspicious)
    confidence = float(np.clip(0.6 + 0.1 * np.log10(surge.ratio / EXFIL_MIN_RATIO) + 0.15 * new_destination, 0.6, 0.95))
    names = ", ".join(p["dst_ip"] for p in suspicious)
    evidence = {
        "bytes_out": total,
        "bytes_out_to_rare_destinations": suspicious_bytes,
        "usual_bytes_out_per_5min": surge.baseline,
        "peak_bytes_out_per_5min": surge.peak,
        "ratio_to_usual": surge.ratio,
        "destinations": suspicious,
        "other_destinations_in_window": [p for p in profiles if p not in suspicious],
        "sources": sorted({str(conns.src_names[s]) for s in np.unique(conns.src[rows])})[:10],
    }
    return Finding(
        category="data_exfiltration",
        severity="critical" if suspicious_bytes >= 1e9 else "high",
        confidence=confidence,
        start=surge.start,
        end=surge.end + BUCKET_SECONDS,
        summary=f"{suspicious_bytes / 1e6:.1f} MB sent to rarely-seen {names} in "
        f"{surge.duration_seconds / 60:.0f} min, {surge.ratio:.0f}x the usual outbound volume",
        evidence=evidence,
        recommendation=f"Block {names} and find the process that sent the data (flow logs, EDR); check what "
        f"data left the host and whether credentials on it must be rotated.",
        indicators=("exfiltration.connections",),
    )


def _destination_profile(context: HostContext, dst: int, window_rows: np.ndarray, surge: Surge) -> dict:
    conns = context.required_connections()
    rows = np.flatnonzero(conns.dst == dst)
    in_window = np.isin(rows, window_rows)
    sent = float(conns.bytes_out[rows[in_window]].sum())
    outside = rows[~in_window]
    span_hours = max(1.0, np.ceil((conns.timestamp[-1] - conns.timestamp[0]) / 3600.0))
    hours_seen = np.unique(np.floor(conns.timestamp[outside] / 3600.0)).size
    routine_days = _routine_days(conns, rows, surge.start, surge.end + BUCKET_SECONDS, sent)
    return {
        "dst_ip": str(conns.dst_names[dst]),
        "bytes_out": sent,
        "connections": int(in_window.sum()),
        "ports": sorted({int(p) for p in conns.dst_port[rows[in_window]]})[:10],
        "hours_seen_outside_window": hours_seen,
        "share_of_other_hours": hours_seen / span_hours,
        "rare": hours_seen / span_hours <= RARE_HOUR_FRACTION,
        "routine_on_days": routine_days,
    }


def _routine_days(conns: ConnectionIndex, rows: np.ndarray, start: float, end: float, sent: float) -> list[int]:
    """Day offsets on which this destination took a comparable upload within an hour of the same time."""
    first, last = conns.timestamp[0], conns.timestamp[-1]
    offsets = range(-int((start - first) // DAY) - 1, int((last - end) // DAY) + 2)
    return [
        offset
        for offset in offsets
        if offset != 0
        and _bytes_between(conns, rows, start + offset * DAY - 3600, end + offset * DAY + 3600) >= ROUTINE_SHARE * sent
    ]


def _bytes_between(conns: ConnectionIndex, rows: np.ndarray, start: float, end: float) -> float:
    times = conns.timestamp[rows]
    return float(conns.bytes_out[rows[(times >= start) & (times <= end)]].sum())


def detect_metric_exfiltration(context: HostContext) -> list[Finding]:
    """Without connection records only the network_out series can show an upload; destinations stay unknown."""
    metric = context.required_metric("network_out")
    findings = []
    for surge in _non_routine_surges(context.timestamps, metric.values, EXFIL_MIN_RATIO, EXFIL_MIN_SIGMAS, 300.0):
        findings.append(
            Finding(
                category="data_exfiltration",
                severity="medium",
                confidence=0.5,
                start=surge.start,
                end=surge.end,
                summary=f"{metric.source_name} peaked at {surge.peak:.4g}, {surge.ratio:.0f}x its usual "
                f"{surge.baseline:.4g}, for {surge.duration_seconds / 60:.0f} min",
                evidence={"metric": metric.source_name, **surge_evidence(surge)},
                recommendation="Send connection records for this host so the destination can be identified; "
                "meanwhile review flow logs for this window.",
                indicators=("exfiltration.metric",),
            )
        )
    return findings


def _non_routine_surges(timestamps, values, min_ratio, min_sigmas, min_seconds) -> list[Surge]:
    surges = find_surges(
        timestamps, values, min_ratio=min_ratio, min_sigmas=min_sigmas, min_duration_seconds=min_seconds
    )
    return [s for s in surges if not daily_recurrences(timestamps, values, s.start, s.end, 0.5 * s.peak)]


def surge_evidence(surge: Surge) -> dict:
    return {
        "peak": surge.peak,
        "peak_at": iso8601(surge.peak_at),
        "mean_during": surge.mean,
        "usual": surge.baseline,
        "ratio_to_usual": surge.ratio,
        "duration_minutes": surge.duration_seconds / 60,
    }


def detect_denial_of_service(context: HostContext) -> list[Finding]:
    """Inbound traffic or request rate far above its local baseline; overlapping surges become one finding."""
    surges = [
        (metric, surge)
        for name in ("network_in", "requests")
        if (metric := context.metric(name))
        for surge in _non_routine_surges(
            context.timestamps, metric.values, DOS_MIN_RATIO, DOS_MIN_SIGMAS, DOS_MIN_SECONDS
        )
    ]
    surges.sort(key=lambda pair: pair[1].start)
    groups: list[list] = []
    for metric, surge in surges:
        if groups and surge.start <= max(s.end for _, s in groups[-1]):
            groups[-1].append((metric, surge))
        else:
            groups.append([(metric, surge)])
    return [_dos_finding(context, group) for group in groups]


def _dos_finding(context: HostContext, group: list) -> Finding:
    start, end = min(s.start for _, s in group), max(s.end for _, s in group)
    strongest = max(s.ratio for _, s in group)
    evidence = {metric.source_name: surge_evidence(surge) for metric, surge in group}
    if context.connections is not None:
        evidence["connections_in_window"] = _talkers(context.connections, start, end)
    metrics = {metric.canonical for metric, _ in group}
    confidence = float(np.clip(0.55 + 0.1 * np.log2(strongest / DOS_MIN_RATIO) + 0.1 * (len(metrics) - 1), 0.55, 0.95))
    described = ", ".join(f"{m.source_name} {s.ratio:.0f}x usual (peak {s.peak:.4g})" for m, s in group)
    return Finding(
        category="denial_of_service",
        severity="high" if strongest >= 10 else "medium",
        confidence=confidence,
        start=start,
        end=end,
        summary=f"inbound surge for {(end - start) / 60:.0f} min: {described}",
        evidence=evidence,
        recommendation="Rate-limit or block the top sources at the edge (WAF/CDN or firewall), and check "
        "whether the service stayed available during the window.",
        indicators=tuple(f"dos.{name}" for name in sorted(metrics)),
    )


def _talkers(conns: ConnectionIndex, start: float, end: float) -> dict:
    """Who hit the busiest destination (ip:port) during the surge, since a flood converges on one service."""
    low, high = np.searchsorted(conns.timestamp, [start, end + 60.0])
    if high <= low:
        return {"count": 0}
    targets = conns.dst[low:high] * 65536 + conns.dst_port[low:high]
    target_keys, target_counts = np.unique(targets, return_counts=True)
    busiest = int(target_keys[np.argmax(target_counts)])
    rows = low + np.flatnonzero(targets == busiest)
    sources = np.bincount(conns.src[rows], minlength=conns.src_names.shape[0])
    top = np.argsort(sources)[::-1][:5]
    return {
        "count": high - low,
        "target": f"{conns.dst_names[busiest // 65536]}:{busiest % 65536}",
        "connections_to_target": rows.size,
        "distinct_sources": int(np.count_nonzero(sources)),
        "top_sources": [{"src_ip": str(conns.src_names[s]), "connections": int(sources[s])} for s in top if sources[s]],
    }
