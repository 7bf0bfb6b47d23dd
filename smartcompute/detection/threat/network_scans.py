"""Port scans and brute force: many distinct ports, or many short attempts on a login port, per flow."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.telemetry import iso8601
from smartcompute.detection.threat.context import ConnectionIndex, group_rows
from smartcompute.detection.threat.findings import Finding

# A (source, destination) pair touching this many distinct ports is probing, not using a service.
# Ports are counted over the whole data, so a slow scan spread over a day is found too.
SCAN_MIN_DISTINCT_PORTS = 100
# A port the pair used more often than this is a service it talks to; leave it out of the scan's window.
SCAN_MAX_HITS_PER_PORT = 3

LOGIN_PORTS = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    110: "pop3",
    143: "imap",
    445: "smb",
    587: "smtp-submission",
    993: "imaps",
    995: "pop3s",
    1433: "mssql",
    3306: "mysql",
    3389: "rdp",
    5432: "postgresql",
    5900: "vnc",
    5985: "winrm",
    5986: "winrm",
}
# Applications open short database/SMB/mail connections in bulk without pooling, so those ports need a
# higher rate before churn looks like password guessing; and only interactive logins are checked for
# guessing spread over many sources, since many clients of one database are normal.
CHURN_PRONE_PORTS = frozenset({110, 143, 445, 587, 993, 995, 1433, 3306, 5432})
BRUTE_FORCE_BUCKET_SECONDS = 600.0
BRUTE_FORCE_MIN_PER_BUCKET = 20  # two attempts a minute from one source, for ten minutes
CHURN_PRONE_MIN_PER_BUCKET = 60  # six a minute on the churn-prone ports
DISTRIBUTED_MIN_PER_BUCKET = 100  # ten a minute on one interactive login port, from ...
DISTRIBUTED_MIN_SOURCES = 10  # ... at least this many sources
BRUTE_FORCE_MIN_ATTEMPTS = 30
BRUTE_FORCE_MAX_MEDIAN_BYTES = 20_000.0  # failed logins exchange a few kilobytes at most


def detect_port_scans(conns: ConnectionIndex) -> list[Finding]:
    _, row_flow, hits = np.unique(conns.flow_keys, return_inverse=True, return_counts=True)
    # Probes only: rows on ports the pair used rarely, so its ordinary service traffic does not widen the window.
    probes = np.flatnonzero(hits[row_flow] <= SCAN_MAX_HITS_PER_PORT)
    pairs = group_rows(conns.flow_keys[probes] // 65536)
    findings = []
    for index in np.flatnonzero(pairs.sizes >= SCAN_MIN_DISTINCT_PORTS):
        probe_rows = probes[pairs.rows_of(int(index))]
        if np.unique(conns.dst_port[probe_rows]).size >= SCAN_MIN_DISTINCT_PORTS:
            findings.append(_port_scan_finding(conns, probe_rows))
    return findings


def _port_scan_finding(conns: ConnectionIndex, rows: np.ndarray) -> Finding:
    src, dst = str(conns.src_names[conns.src[rows[0]]]), str(conns.dst_names[conns.dst[rows[0]]])
    ports = np.unique(conns.dst_port[rows])
    answered = np.unique(conns.dst_port[rows][conns.bytes_in[rows] > 0])
    start, end = float(conns.timestamp[rows[0]]), float(conns.timestamp[rows[-1]])
    minutes = max((end - start) / 60.0, 1.0 / 60.0)
    confidence = float(np.clip(0.6 + 0.3 * np.log10(ports.size / SCAN_MIN_DISTINCT_PORTS), 0.6, 0.95))
    evidence = {
        "src_ip": src,
        "dst_ip": dst,
        "distinct_ports": ports.size,
        "connections": rows.size,
        "port_range": [ports[0], ports[-1]],
        "ports_sample": ports[:20],
        "ports_per_minute": ports.size / minutes,
        "ports_that_answered": answered[:50],
        "answered_count": answered.size,
    }
    return Finding(
        category="port_scan",
        severity="high" if ports.size >= 500 else "medium",
        confidence=confidence,
        start=start,
        end=end,
        summary=f"{src} probed {ports.size} distinct ports on {dst} ({ports[0]}-{ports[-1]}) "
        f"in {minutes:.1f} min; {answered.size} answered",
        evidence=evidence,
        recommendation=f"Block {src} at the firewall if it is not an approved scanner, and close or firewall "
        f"the {answered.size} ports on {dst} that answered unless they are meant to be exposed.",
        indicators=("port_scan.vertical",),
    )


def detect_brute_force(conns: ConnectionIndex) -> list[Finding]:
    rows = np.flatnonzero(np.isin(conns.dst_port, np.fromiter(LOGIN_PORTS, dtype=np.int64)))
    if rows.size < BRUTE_FORCE_MIN_ATTEMPTS:
        return []
    churn_prone = np.isin(conns.dst_port[rows], np.fromiter(CHURN_PRONE_PORTS, dtype=np.int64))
    needed = np.where(churn_prone, CHURN_PRONE_MIN_PER_BUCKET, BRUTE_FORCE_MIN_PER_BUCKET)
    findings = [
        finding
        for episode in _busy_episodes(conns, rows, conns.flow_keys[rows], needed)
        if (finding := _brute_force_finding(conns, episode)) is not None
    ]
    interactive = rows[~churn_prone]
    service_keys = conns.dst[interactive] * 65536 + conns.dst_port[interactive]
    for episode in _busy_episodes(conns, interactive, service_keys, DISTRIBUTED_MIN_PER_BUCKET):
        sources = np.bincount(conns.src[episode])
        # One dominant source is the single-source finding above, already reported.
        if np.count_nonzero(sources) >= DISTRIBUTED_MIN_SOURCES and sources.max() <= 0.5 * episode.size:
            if (finding := _brute_force_finding(conns, episode)) is not None:
                findings.append(finding)
    return findings


def _busy_episodes(conns: ConnectionIndex, rows: np.ndarray, keys: np.ndarray, needed) -> list[np.ndarray]:
    """Rows of each key in ten-minute buckets holding at least `needed` of them, split where activity pauses."""
    if rows.size == 0:
        return []
    _, key_index = np.unique(keys, return_inverse=True)
    bucket = np.floor(conns.timestamp[rows] / BRUTE_FORCE_BUCKET_SECONDS).astype(np.int64)
    bucket -= bucket.min()
    _, cell_index, per_cell = np.unique(
        key_index * (bucket.max() + 1) + bucket, return_inverse=True, return_counts=True
    )
    busy = per_cell[cell_index] >= needed
    busy_rows, groups = rows[busy], group_rows(key_index[busy])
    return [
        episode
        for index in range(groups.keys.shape[0])
        for episode in _split_at_gaps(busy_rows[groups.rows_of(index)], conns.timestamp, 2 * BRUTE_FORCE_BUCKET_SECONDS)
    ]


def _split_at_gaps(rows: np.ndarray, timestamps: np.ndarray, max_gap: float) -> list[np.ndarray]:
    cuts = np.flatnonzero(np.diff(timestamps[rows]) > max_gap) + 1
    return np.split(rows, cuts)


def _brute_force_finding(conns: ConnectionIndex, rows: np.ndarray) -> Finding | None:
    session_bytes = conns.bytes_out[rows] + conns.bytes_in[rows]
    median_bytes = float(np.median(session_bytes))
    if rows.size < BRUTE_FORCE_MIN_ATTEMPTS or median_bytes > BRUTE_FORCE_MAX_MEDIAN_BYTES:
        return None
    sources = np.bincount(conns.src[rows], minlength=conns.src_names.shape[0])
    top = np.argsort(sources)[::-1][:5]
    distributed = np.count_nonzero(sources) > 1
    src = f"{np.count_nonzero(sources)} sources" if distributed else str(conns.src_names[top[0]])
    dst, port = str(conns.dst_names[conns.dst[rows[0]]]), int(conns.dst_port[rows[0]])
    service = LOGIN_PORTS[port]
    start, end = float(conns.timestamp[rows[0]]), float(conns.timestamp[rows[-1]])
    minutes = max((end - start) / 60.0, 1.0)
    # A session far larger than the failed attempts around it may be the one that got in.
    large = rows[session_bytes > max(10 * median_bytes, 50_000.0)]
    evidence = {
        "dst_ip": dst,
        "dst_port": port,
        "service": service,
        "attempts": rows.size,
        "attempts_per_minute": rows.size / minutes,
        "duration_minutes": minutes,
        "median_bytes_per_attempt": median_bytes,
        "possible_successful_sessions": [
            {
                "time": iso8601(conns.timestamp[r]),
                "src_ip": str(conns.src_names[conns.src[r]]),
                "bytes": float(conns.bytes_out[r] + conns.bytes_in[r]),
            }
            for r in large[:5]
        ],
    }
    if distributed:
        evidence["distinct_sources"] = int(np.count_nonzero(sources))
        evidence["top_sources"] = [{"src_ip": str(conns.src_names[s]), "attempts": int(sources[s])} for s in top]
    else:
        evidence["src_ip"] = src
    confidence = float(np.clip(0.6 + 0.2 * np.log10(rows.size / BRUTE_FORCE_MIN_ATTEMPTS), 0.6, 0.95))
    return Finding(
        category="brute_force",
        severity="critical" if large.size else ("high" if rows.size >= 100 else "medium"),
        confidence=confidence,
        start=start,
        end=end,
        summary=f"{src} made {rows.size} short {service} connections to {dst}:{port} in "
        f"{minutes:.0f} min ({rows.size / minutes:.1f}/min, median {median_bytes:.0f} bytes each)",
        evidence=evidence,
        recommendation=f"Block {'the top sources' if distributed else src}, enforce key-only or MFA logins on "
        f"{service}, add rate limiting (e.g. fail2ban) and review the auth log on {dst} around "
        f"these times" + (" for the large sessions that may have succeeded." if large.size else "."),
        indicators=("brute_force.distributed" if distributed else "brute_force.single_source",),
    )
