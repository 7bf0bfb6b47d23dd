"""Host threats: cryptomining, ransomware-like I/O and resource exhaustion, seen through the metrics."""

from datetime import datetime

import pytest

from smartcompute.detection.threat import analyze_threats
from tests.detection.scenarios import HOUR, MINUTE, HostScenario, at


def moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def by_category(report: dict) -> dict[str, dict]:
    return {f["category"]: f for f in report["findings"]}


def test_a_miner_pinning_the_cpu_and_talking_to_a_pool_is_cryptomining_with_all_three_signals():
    host = HostScenario()
    host.add_miner(10 * HOUR, 2 * HOUR, pool=("45.9.148.117", 3333))
    report = analyze_threats(host.build())

    # the miner process and the pinned CPU are cited inside this finding, not repeated as separate ones
    assert [f["category"] for f in report["findings"]] == ["cryptomining"]
    mining = report["findings"][0]
    assert mining["severity"] == "high"
    assert moment(mining["start"]) == pytest.approx(at(10 * HOUR), abs=MINUTE)
    assert mining["end"] == "2026-11-23T12:00:00Z"  # the last process sample
    evidence = mining["evidence"]
    assert evidence["signals"] == ["miner_process", "pool_connections", "sustained_cpu"]
    assert evidence["miner_processes"][0]["name"] == "xmrig"
    assert "stratum+tcp://45.9.148.117:3333" in evidence["miner_processes"][0]["cmdline"]
    assert (evidence["pool_connections"][0]["dst_ip"], evidence["pool_connections"][0]["dst_port"]) == (
        "45.9.148.117",
        3333,
    )
    assert evidence["cpu"]["mean_during"] > 95
    assert evidence["cpu"]["minutes_at_or_above_80"] == pytest.approx(120, abs=2)


def test_a_miner_seen_only_through_pool_connections_and_cpu_is_still_cryptomining():
    host = HostScenario()
    host.add_miner(10 * HOUR, 2 * HOUR, pool=("45.9.148.117", 14444))
    report = analyze_threats(host.build(with_processes=False))
    mining = by_category(report)["cryptomining"]
    assert mining["evidence"]["signals"] == ["pool_connections", "sustained_cpu"]
    assert mining["severity"] == "medium"


def test_a_connection_to_a_pool_port_without_busy_cpu_or_miner_is_not_cryptomining():
    host = HostScenario()
    host.add_connections([at(5 * HOUR)], "185.220.101.45", 4444)
    assert "cryptomining" not in by_category(analyze_threats(host.build()))


def test_a_disk_write_burst_with_cpu_is_ransomware_like_io():
    host = HostScenario()
    host.add_ransomware(3 * HOUR, 20 * MINUTE)
    report = analyze_threats(host.build())

    assert list(by_category(report)) == ["ransomware_io"]
    ransom = by_category(report)["ransomware_io"]
    assert moment(ransom["start"]) == pytest.approx(at(3 * HOUR), abs=MINUTE)
    assert moment(ransom["end"]) == pytest.approx(at(3 * HOUR + 19 * MINUTE), abs=MINUTE)
    evidence = ransom["evidence"]
    assert evidence["disk_write_bytes"]["ratio_to_usual"] > 20
    assert evidence["disk_write_bytes"]["duration_minutes"] == pytest.approx(20)
    assert evidence["cpu_percent"]["mean_during"] - evidence["cpu_percent"]["median_hour_before"] > 25
    assert evidence["disk_read_bytes"]["ratio"] > 5


def test_a_disk_write_burst_without_cpu_is_not_ransomware():
    host = HostScenario()
    host.metrics["disk_write_bytes"][host.window(3 * HOUR, 20 * MINUTE)] *= 30
    assert analyze_threats(host.build())["findings"] == []


def test_memory_climbing_to_100_percent_is_resource_exhaustion_with_its_growth_rate():
    host = HostScenario()
    host.add_memory_leak(12 * HOUR, hours_to_full=8)
    report = analyze_threats(host.build())

    assert list(by_category(report)) == ["resource_exhaustion"]
    exhaustion = by_category(report)["resource_exhaustion"]
    # memory starts near 62%: 95% is reached about (95-62)/(100-62) of the way through the 8 hours
    assert moment(exhaustion["start"]) == pytest.approx(at(12 * HOUR + 8 * HOUR * 33 / 38), abs=40 * MINUTE)
    assert moment(exhaustion["end"]) == pytest.approx(host.timestamps[-1], abs=MINUTE)
    evidence = exhaustion["evidence"]
    assert evidence["metric"] == "mem_percent"
    assert evidence["peak"] >= 99
    assert moment(evidence["climb_started_at"]) == pytest.approx(at(12 * HOUR), abs=45 * MINUTE)
    assert evidence["growth_points_per_hour"] == pytest.approx(38 / 8, rel=0.25)
    assert exhaustion["severity"] == "critical"


def test_a_host_that_always_runs_memory_high_is_not_exhausting_it():
    host = HostScenario()
    host.metrics["mem_percent"][:] = 96.0
    assert analyze_threats(host.build())["findings"] == []


def test_metric_names_are_recognised_case_insensitively_through_the_alias_table():
    host = HostScenario()
    host.add_ransomware(3 * HOUR, 20 * MINUTE)
    telemetry = host.build()
    renamed = {"CPU-Usage": telemetry.metrics["cpu_percent"], "Disk.Write": telemetry.metrics["disk_write_bytes"]}
    report = analyze_threats(type(telemetry)(telemetry.timestamps, renamed, "h", None, ()))
    assert report["summary"]["metrics_used"] == {"cpu": "CPU-Usage", "disk_write": "Disk.Write"}
    assert [f["category"] for f in report["findings"]] == ["ransomware_io"]


def test_a_missing_metric_disables_only_the_detectors_that_need_it():
    host = HostScenario()
    host.add_ransomware(3 * HOUR, 20 * MINUTE)
    report = analyze_threats(
        host.build(metrics=("disk_write_bytes", "net_in"), with_connections=False, with_processes=False)
    )
    assert report["findings"] == []
    skipped = report["summary"]["detectors_skipped"]
    assert skipped["ransomware_io"] == "needs disk_write and cpu metrics"
    assert "denial_of_service" not in skipped
    assert skipped["port_scan"] == "needs connections"
