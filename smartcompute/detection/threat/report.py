"""Runs every detector the data allows and assembles the threat report."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from smartcompute.detection.telemetry import Telemetry, iso8601
from smartcompute.detection.threat.beaconing import detect_beaconing
from smartcompute.detection.threat.context import HostContext, build_context
from smartcompute.detection.threat.cryptomining import detect_cryptomining
from smartcompute.detection.threat.findings import Finding, overall_severity, severity_rank, threat_score, to_json
from smartcompute.detection.threat.host import detect_ransomware_io, detect_resource_exhaustion
from smartcompute.detection.threat.network_scans import detect_brute_force, detect_port_scans
from smartcompute.detection.threat.network_volume import (
    detect_denial_of_service,
    detect_exfiltration,
    detect_metric_exfiltration,
)
from smartcompute.detection.threat.processes import detect_suspicious_processes


# A report with hundreds of scans in it is no more useful than one with twenty and a count of the rest.
MAX_FINDINGS_PER_CATEGORY = 20


@dataclass(frozen=True)
class Detector:
    name: str
    needs: str  # said in the report when the data lacks it
    available: Callable[[HostContext], bool]
    run: Callable[[HostContext], list[Finding]]


def _has(*metrics: str) -> Callable[[HostContext], bool]:
    return lambda context: all(context.metric(name) is not None for name in metrics)


def _has_any(*metrics: str) -> Callable[[HostContext], bool]:
    return lambda context: any(context.metric(name) is not None for name in metrics)


def _has_connections(context: HostContext) -> bool:
    return context.connections is not None


DETECTORS = (
    Detector(
        "cryptomining",
        "processes or connections",
        lambda c: bool(c.processes) or _has_connections(c),
        detect_cryptomining,
    ),
    Detector("data_exfiltration", "connections", _has_connections, detect_exfiltration),
    Detector(
        "data_exfiltration_by_metric",
        "a network_out metric and no connections",
        lambda c: not _has_connections(c) and _has("network_out")(c),
        detect_metric_exfiltration,
    ),
    Detector(
        "denial_of_service",
        "a network_in or requests metric",
        _has_any("network_in", "requests"),
        detect_denial_of_service,
    ),
    Detector("ransomware_io", "disk_write and cpu metrics", _has("disk_write", "cpu"), detect_ransomware_io),
    Detector("port_scan", "connections", _has_connections, lambda c: detect_port_scans(c.required_connections())),
    Detector("brute_force", "connections", _has_connections, lambda c: detect_brute_force(c.required_connections())),
    Detector("beaconing", "connections", _has_connections, detect_beaconing),
    Detector(
        "suspicious_process",
        "processes",
        lambda c: bool(c.processes),
        lambda c: detect_suspicious_processes(c.processes),
    ),
    Detector(
        "resource_exhaustion",
        "a cpu, memory or disk_usage metric",
        _has_any("cpu", "memory", "disk_usage"),
        detect_resource_exhaustion,
    ),
)


def analyze_threats(telemetry: Telemetry) -> dict:
    """Threat report for one host. With no findings: threat_detected false, severity "none", score 0."""
    context = build_context(telemetry)
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    for detector in DETECTORS:
        if detector.available(context):
            findings.extend(detector.run(context))
        elif detector.name != "data_exfiltration_by_metric":
            skipped[detector.name] = f"needs {detector.needs}"
    findings, omitted = strongest_per_category(drop_restatements(findings))
    return {
        "threat_detected": bool(findings),
        "threat_score": round(threat_score(findings), 3),
        "severity": overall_severity(findings),
        "findings": [finding.to_dict() for finding in findings],
        "summary": _summary(telemetry, context, findings, skipped, omitted),
    }


# Miners are commonly dropped into /tmp; the cryptomining finding shows the cmdline with that path.
_EXPLAINED_BY_MINING = {"world_writable_exec"}


def strongest_per_category(findings: list[Finding]) -> tuple[list[Finding], dict[str, int]]:
    """Most severe first; past MAX_FINDINGS_PER_CATEGORY in one category only a count is kept."""
    ranked = sorted(findings, key=lambda f: (-severity_rank(f.severity), -f.confidence, f.start))
    kept: list[Finding] = []
    omitted: dict[str, int] = {}
    seen: dict[str, int] = {}
    for finding in ranked:
        seen[finding.category] = seen.get(finding.category, 0) + 1
        if seen[finding.category] <= MAX_FINDINGS_PER_CATEGORY:
            kept.append(finding)
        else:
            omitted[finding.category] = omitted.get(finding.category, 0) + 1
    return kept, omitted


def drop_restatements(findings: list[Finding]) -> list[Finding]:
    """A cryptomining finding already cites its miner process and pinned CPU; don't count them twice."""
    mining = [f for f in findings if f.category == "cryptomining"]
    if not mining:
        return findings
    miner_names = {p["name"] for f in mining for p in f.evidence["miner_processes"]}

    def restates(finding: Finding) -> bool:
        if finding.category == "suspicious_process":
            return finding.evidence["name"] in miner_names and all(
                i.startswith("miner.") or i in _EXPLAINED_BY_MINING for i in finding.indicators
            )
        if finding.indicators == ("exhaustion.cpu",):
            return any(m.start <= finding.end and finding.start <= m.end for m in mining)
        return False

    return [f for f in findings if not restates(f)]


def _summary(telemetry: Telemetry, context: HostContext, findings: list[Finding], skipped: dict, omitted: dict) -> dict:
    by_category: dict[str, int] = {}
    for finding in findings:
        by_category[finding.category] = by_category.get(finding.category, 0) + 1
    return to_json(
        {
            "host": telemetry.host,
            "period": {
                "start": iso8601(telemetry.timestamps[0]),
                "end": iso8601(telemetry.timestamps[-1]),
                "points": int(telemetry.timestamps.shape[0]),
            },
            "metrics_used": {name: metric.source_name for name, metric in sorted(context.metrics.items())},
            "connections": 0 if context.connections is None else len(context.connections),
            "processes": len(context.processes),
            "findings_by_category": by_category,
            "detectors_skipped": skipped,
            "findings_omitted": omitted,
        }
    )
