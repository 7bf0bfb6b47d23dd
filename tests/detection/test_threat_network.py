"""Network threats: each attack is injected into a busy-but-normal host and must be found with its evidence."""

from datetime import datetime

import pytest

from smartcompute.detection.threat import analyze_threats
from tests.detection.scenarios import BACKUP_DESTINATION, DAY, HOST_IP, HOUR, MINUTE, HostScenario, at


def moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def only_finding(report: dict, category: str) -> dict:
    found = [f for f in report["findings"] if f["category"] == category]
    assert len(found) == 1, [(f["category"], f["summary"]) for f in report["findings"]]
    return found[0]


def categories(report: dict) -> list[str]:
    return sorted(f["category"] for f in report["findings"])


def test_a_scan_of_1000_ports_is_reported_with_scanner_target_and_ports():
    host = HostScenario()
    host.add_port_scan(9 * HOUR, ports=1000, src_ip="198.51.100.23", seconds=120)
    report = analyze_threats(host.build())

    scan = only_finding(report, "port_scan")
    assert categories(report) == ["port_scan"]
    assert scan["severity"] == "high"
    assert moment(scan["start"]) == pytest.approx(at(9 * HOUR), abs=1)
    assert moment(scan["end"]) == pytest.approx(at(9 * HOUR + 120), abs=1)
    evidence = scan["evidence"]
    assert (evidence["src_ip"], evidence["dst_ip"]) == ("198.51.100.23", HOST_IP)
    assert evidence["distinct_ports"] == 1000
    assert evidence["port_range"] == [1, 1000]
    assert evidence["ports_that_answered"] == [22, 80, 443]


def test_a_beacon_every_60_seconds_with_jitter_reports_interval_and_jitter():
    host = HostScenario()
    host.add_beacon(6 * HOUR, 8 * HOUR, interval=60, jitter=0.1, dst_ip="185.220.101.45")
    report = analyze_threats(host.build())

    beacon = only_finding(report, "beaconing")
    assert categories(report) == ["beaconing"]
    evidence = beacon["evidence"]
    assert (evidence["dst_ip"], evidence["dst_port"]) == ("185.220.101.45", 443)
    assert evidence["interval_seconds"] == pytest.approx(60, abs=2)
    # uniform +-6 s jitter has a standard deviation of 6/sqrt(3) = 3.5 s
    assert 2.0 <= evidence["jitter_seconds"] <= 6.0
    assert evidence["connections"] == 480
    assert moment(beacon["start"]) == pytest.approx(at(6 * HOUR), abs=7)
    assert moment(beacon["end"]) == pytest.approx(at(14 * HOUR - 60), abs=7)


def test_an_exfiltration_burst_names_the_rare_destination_and_volume():
    host = HostScenario()
    host.add_exfiltration(15 * HOUR, 20 * MINUTE, total_bytes=2e9, dst_ip="91.234.99.12")
    report = analyze_threats(host.build())

    exfil = only_finding(report, "data_exfiltration")
    assert categories(report) == ["data_exfiltration"]
    assert moment(exfil["start"]) == pytest.approx(at(15 * HOUR), abs=5 * MINUTE)
    assert moment(exfil["end"]) == pytest.approx(at(15 * HOUR + 20 * MINUTE), abs=5 * MINUTE)
    evidence = exfil["evidence"]
    assert [d["dst_ip"] for d in evidence["destinations"]] == ["91.234.99.12"]
    assert evidence["destinations"][0]["hours_seen_outside_window"] == 0
    assert evidence["bytes_out_to_rare_destinations"] == pytest.approx(2e9, rel=0.01)
    assert evidence["ratio_to_usual"] > 100


def test_without_connection_records_exfiltration_falls_back_to_the_network_out_metric():
    host = HostScenario()
    host.add_exfiltration(15 * HOUR, 20 * MINUTE)
    report = analyze_threats(host.build(with_connections=False))

    exfil = only_finding(report, "data_exfiltration")
    assert exfil["evidence"]["metric"] == "net_out"
    assert moment(exfil["start"]) == pytest.approx(at(15 * HOUR), abs=MINUTE)
    assert exfil["evidence"]["duration_minutes"] == pytest.approx(20)


def test_a_brute_force_on_ssh_reports_source_attempts_and_rate():
    host = HostScenario()
    host.add_brute_force(4 * HOUR, attempts=400, per_minute=10, src_ip="45.155.205.10", port=22)
    report = analyze_threats(host.build())

    brute = only_finding(report, "brute_force")
    assert categories(report) == ["brute_force"]
    evidence = brute["evidence"]
    assert (evidence["src_ip"], evidence["dst_ip"], evidence["dst_port"]) == ("45.155.205.10", HOST_IP, 22)
    assert evidence["service"] == "ssh"
    assert evidence["attempts"] == 400
    assert evidence["attempts_per_minute"] == pytest.approx(10, rel=0.1)
    assert moment(brute["start"]) == pytest.approx(at(4 * HOUR), abs=MINUTE)
    assert moment(brute["end"]) == pytest.approx(at(4 * HOUR + 40 * MINUTE), abs=MINUTE)


def test_a_few_ssh_logins_are_not_a_brute_force():
    host = HostScenario()
    host.add_brute_force(4 * HOUR, attempts=12, per_minute=1)
    assert analyze_threats(host.build())["findings"] == []


def test_an_inbound_dos_spike_reports_both_metrics_and_the_top_sources():
    host = HostScenario()
    host.add_dos(13 * HOUR, 15 * MINUTE, factor=20, sources=500)
    report = analyze_threats(host.build())

    dos = only_finding(report, "denial_of_service")
    assert categories(report) == ["denial_of_service"]
    assert moment(dos["start"]) == pytest.approx(at(13 * HOUR), abs=MINUTE)
    assert moment(dos["end"]) == pytest.approx(at(13 * HOUR + 14 * MINUTE), abs=MINUTE)
    evidence = dos["evidence"]
    assert evidence["net_in"]["ratio_to_usual"] > 10
    assert evidence["requests"]["ratio_to_usual"] > 10
    assert evidence["connections_in_window"]["distinct_sources"] == 500
    assert evidence["connections_in_window"]["target"] == f"{HOST_IP}:80"


def test_a_busy_host_with_many_ordinary_https_connections_raises_nothing():
    report = analyze_threats(HostScenario(days=2, connections_per_second=0.5).build())
    assert report["findings"] == []
    assert report["threat_detected"] is False


def test_a_daily_backup_to_the_usual_destination_is_routine_not_exfiltration():
    host = HostScenario(days=4)
    host.add_daily_backup(hour=2, duration=30 * MINUTE, total_bytes=3e9)
    report = analyze_threats(host.build())
    assert report["findings"] == []


def test_an_upload_to_the_usual_destination_off_schedule_with_no_history_is_still_not_to_a_rare_destination():
    host = HostScenario(days=1)
    host.add_exfiltration(15 * HOUR, 20 * MINUTE, dst_ip=BACKUP_DESTINATION)
    assert analyze_threats(host.build())["findings"] == []


def test_the_same_burst_to_a_new_destination_on_one_day_of_four_is_exfiltration():
    host = HostScenario(days=4)
    host.add_daily_backup(hour=2)
    host.add_exfiltration(2 * DAY + 2 * HOUR, 30 * MINUTE, total_bytes=3e9, dst_ip="91.234.99.12")
    report = analyze_threats(host.build())
    exfil = only_finding(report, "data_exfiltration")
    assert [d["dst_ip"] for d in exfil["evidence"]["destinations"]] == ["91.234.99.12"]


def test_password_guessing_spread_over_many_sources_is_a_distributed_brute_force():
    host = HostScenario()
    for index in range(40):
        host.add_brute_force(4 * HOUR, attempts=15, per_minute=0.5, src_ip=f"45.155.{index}.10", port=3389)
    report = analyze_threats(host.build())

    brute = only_finding(report, "brute_force")
    assert brute["evidence"]["distinct_sources"] == 40
    assert brute["evidence"]["attempts"] == 600
    assert brute["evidence"]["service"] == "rdp"


def test_an_app_server_churning_short_database_connections_is_not_a_brute_force():
    host = HostScenario()
    host.add_brute_force(4 * HOUR, attempts=200, per_minute=4, src_ip="10.0.0.7", port=5432)
    assert analyze_threats(host.build())["findings"] == []
