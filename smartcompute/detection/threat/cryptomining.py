"""Cryptomining: sustained high CPU together with a miner process or connections to mining-pool ports."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.telemetry import iso8601
from smartcompute.detection.threat.context import HostContext
from smartcompute.detection.threat.findings import Finding
from smartcompute.detection.threat.processes import is_miner_match, match_process
from smartcompute.detection.threat.series import run_duration, sample_interval, true_runs

# Stratum ports that public pools and miner defaults use; 4444 is also Metasploit's, hence "two signals".
POOL_PORTS = np.array([3333, 3334, 3357, 4444, 5555, 7777, 14433, 14444, 45560, 45700], dtype=np.int64)
HIGH_CPU = 80.0
HIGH_CPU_MIN_SECONDS = 15 * 60.0
OVERLAP_SLACK_SECONDS = 10 * 60.0


def detect_cryptomining(context: HostContext) -> list[Finding]:
    """Needs two of three signals, at least one of them not CPU: a busy host alone is not mining."""
    processes = _miner_processes(context)
    pools = _pool_connections(context)
    activity = [t for entry in processes + pools for t in (entry["_first"], entry["_last"])]
    if not activity:
        return []
    first, last = min(activity), max(activity)
    cpu_evidence, cpu_window = _cpu_during(context, first - OVERLAP_SLACK_SECONDS, last + OVERLAP_SLACK_SECONDS)
    signals = [
        name
        for name, present in (
            ("miner_process", processes),
            ("pool_connections", pools),
            ("sustained_cpu", cpu_evidence),
        )
        if present
    ]
    if len(signals) < 2:
        return []
    start, end = (min(first, cpu_window[0]), max(last, cpu_window[1])) if cpu_window else (first, last)
    evidence = {"signals": signals, "miner_processes": _public(processes), "pool_connections": _public(pools)}
    if cpu_evidence:
        evidence["cpu"] = cpu_evidence
    names = ", ".join(sorted({p["name"] for p in processes})) or "unknown process"
    pool_text = ", ".join(f"{p['dst_ip']}:{p['dst_port']}" for p in pools[:3]) or "no pool seen"
    return [
        Finding(
            category="cryptomining",
            severity="high" if len(signals) == 3 else "medium",
            confidence=min(0.97, 0.55 + 0.15 * len(signals)),
            start=start,
            end=end,
            summary=f"cryptomining: {names}; pool {pool_text}"
            + (f"; {cpu_evidence['metric']} averaged {cpu_evidence['mean_during']:.0f}%" if cpu_evidence else ""),
            evidence=evidence,
            recommendation="Kill the miner, remove its binary and persistence (cron, systemd units, startup items), "
            f"block {pool_text} and find how it got in (exposed service, stolen credentials).",
            indicators=tuple(f"cryptomining.{s}" for s in signals),
        )
    ]


def _miner_processes(context: HostContext) -> list[dict]:
    seen: dict[tuple[str, str], dict] = {}
    for process in context.processes:
        key = (process.name, process.cmdline)
        if key not in seen:
            rules = [m.rule.rule_id for m in match_process(*key) if is_miner_match(m)]
            seen[key] = {
                "name": process.name,
                "cmdline": process.cmdline[:400],
                "rules": rules,
                "user": process.user,
                "max_cpu_percent": process.cpu_percent,
                "_first": process.timestamp,
            }
        entry = seen[key]
        entry["max_cpu_percent"] = max(entry["max_cpu_percent"], process.cpu_percent)
        entry["_last"] = process.timestamp  # processes arrive sorted by time
    miners = [entry for entry in seen.values() if entry["rules"]]
    for entry in miners:
        entry["first_seen"], entry["last_seen"] = iso8601(entry["_first"]), iso8601(entry["_last"])
    return miners


def _pool_connections(context: HostContext) -> list[dict]:
    conns = context.connections
    if conns is None:
        return []
    rows = np.flatnonzero(np.isin(conns.dst_port, POOL_PORTS))
    if rows.size == 0:
        return []
    targets = conns.dst[rows] * 65536 + conns.dst_port[rows]
    keys, inverse, counts = np.unique(targets, return_inverse=True, return_counts=True)
    pools = []
    for index in np.argsort(counts)[::-1][:5]:
        mine = rows[inverse == index]
        pools.append(
            {
                "dst_ip": str(conns.dst_names[keys[index] // 65536]),
                "dst_port": int(keys[index] % 65536),
                "connections": int(counts[index]),
                "bytes_out": float(conns.bytes_out[mine].sum()),
                "bytes_in": float(conns.bytes_in[mine].sum()),
                "first_seen": iso8601(conns.timestamp[mine[0]]),
                "last_seen": iso8601(conns.timestamp[mine[-1]]),
                "_first": float(conns.timestamp[mine[0]]),
                "_last": float(conns.timestamp[mine[-1]]),
            }
        )
    return pools


def _cpu_during(context: HostContext, start: float, end: float) -> tuple[dict, tuple[float, float] | None]:
    """Evidence of CPU held at >= 80% for 15+ minutes overlapping [start, end], and that stretch's bounds."""
    cpu, t = context.metric("cpu"), context.timestamps
    if cpu is None:
        return {}, None
    interval = sample_interval(t)
    runs = [
        r
        for r in true_runs(cpu.values >= HIGH_CPU, t, 2.5 * interval)
        if run_duration(r, t, interval) >= HIGH_CPU_MIN_SECONDS and t[r.first] <= end and t[r.last] >= start
    ]
    if not runs:
        return {}, None
    first, last = runs[0].first, runs[-1].last
    before = cpu.values[max(0, first - int(3600 / interval)) : first]
    return {
        "metric": cpu.source_name,
        "mean_during": float(np.mean(cpu.values[first : last + 1])),
        "median_hour_before": float(np.median(before)) if before.size else None,
        "minutes_at_or_above_80": sum(run_duration(r, t, interval) for r in runs) / 60,
        "from": iso8601(t[first]),
        "to": iso8601(t[last]),
    }, (float(t[first]), float(t[last]))


def _public(entries: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if not key.startswith("_")} for entry in entries]
