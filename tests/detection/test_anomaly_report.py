import json

import numpy as np
import pytest

from smartcompute.detection.anomaly import AnomalyDetector, IncompatibleSnapshot
from smartcompute.detection.anomaly_report import BASELINE_METRICS, analyze_anomalies, range_excess, severity
from smartcompute.detection.telemetry import Telemetry

START = 1_700_000_000.0


def telemetry(metrics: dict[str, np.ndarray], host: str | None = "web-1") -> Telemetry:
    points = len(next(iter(metrics.values())))
    return Telemetry(timestamps=START + 300.0 * np.arange(points), metrics=metrics, host=host)


def quiet(points: int, seed: int) -> np.ndarray:
    return 20 + np.random.default_rng(seed).normal(0, 1, points)


def test_result_has_a_score_per_point_per_metric_and_a_host_score():
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(300, 1), "mem": quiet(300, 2)}), None)
    assert set(result["scores"]) == {"cpu", "mem"}
    assert all(len(scores) == 300 for scores in result["scores"].values())
    assert len(result["host_score"]) == 300
    assert all(0 <= score <= 1 for score in result["host_score"])


def test_host_score_is_the_highest_metric_score_at_each_point():
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(800, 1), "mem": quiet(800, 2) + np.r_[np.zeros(600), np.full(200, 25)]}), None)
    expected = np.maximum(result["scores"]["cpu"], result["scores"]["mem"])
    assert np.allclose(result["host_score"], expected)


def test_a_level_shift_is_reported_as_a_window_naming_the_metric():
    cpu = quiet(1000, 3)
    cpu[700:] += 40
    result, _ = analyze_anomalies(telemetry({"cpu": cpu, "mem": quiet(1000, 4)}), None)
    assert len(result["windows"]) == 1
    window = result["windows"][0]
    assert window["metrics"] == ["cpu"]
    assert window["start"].startswith("2023-11-") and window["start"].endswith("Z")
    assert window["severity"] == "critical"  # 40 points up on a metric that moves by about 1
    assert result["summary"]["windows"] == 1


@pytest.mark.parametrize("peak, expected", [(0.5, "low"), (0.6, "medium"), (0.8, "high"), (0.95, "critical")])
def test_severity_grows_with_the_peak_score(peak, expected):
    assert severity(peak) == expected


def sine_with_plateau(points: int, plateau: float) -> np.ndarray:
    values = 20 + 5 * np.sin(np.arange(points) * 2 * np.pi / 60) + np.random.default_rng(1).normal(0, 1, points)
    values[int(points * 0.7):int(points * 0.7) + 10] = plateau
    return values


def test_a_jump_far_beyond_a_new_hosts_range_is_critical_though_its_score_is_still_learning():
    result, _ = analyze_anomalies(telemetry({"cpu": sine_with_plateau(300, 95.0)}, host=None), None)
    [window] = result["windows"]
    assert severity(window["peak_score"]) in ("low", "medium") and window["severity"] == "critical"


def test_a_window_inside_the_metrics_recent_range_keeps_its_scores_severity():
    result, _ = analyze_anomalies(telemetry({"cpu": sine_with_plateau(1000, 30.0)}, host=None), None)
    assert result["windows"]
    assert all(window["severity"] == severity(window["peak_score"]) for window in result["windows"])


@pytest.mark.parametrize("history, window, expected", [
    (np.arange(100.0), np.array([97.0, 50.0]), 0.0),   # within the 2nd..98th percentile (1.98..97.02)
    (np.arange(100.0), np.array([192.06]), 1.0),       # one range's width above it
    (np.arange(100.0), np.array([-45.54]), 0.5),       # below works the same
    (np.arange(10.0), np.array([1e6]), 0.0),           # too little history to judge
    (np.full(100, 3.0), np.array([1e6]), 0.0),         # a flat history has no range to compare with
])
def test_range_excess(history, window, expected):
    assert range_excess(history, window) == pytest.approx(expected, abs=1e-6)


def test_result_and_baseline_are_json_serialisable():
    result, baseline = analyze_anomalies(telemetry({"cpu": quiet(50, 5)}), None)
    assert json.loads(json.dumps(result)) == result
    assert json.loads(json.dumps(baseline)) == baseline


def test_continuing_from_a_baseline_matches_one_long_job():
    cpu = quiet(2400, 6)
    cpu[1800:] += 30
    whole, _ = analyze_anomalies(telemetry({"cpu": cpu}), None)
    _, baseline = analyze_anomalies(telemetry({"cpu": cpu[:1000]}), None)
    later = Telemetry(timestamps=START + 300.0 * np.arange(1000, 2400), metrics={"cpu": cpu[1000:]}, host="web-1")
    continued, _ = analyze_anomalies(later, json.loads(json.dumps(baseline)))
    np.testing.assert_allclose(continued["scores"]["cpu"], whole["scores"]["cpu"][1000:], atol=1e-4)


def test_metrics_absent_from_the_job_are_kept_in_the_baseline_and_new_ones_start_cold():
    _, baseline = analyze_anomalies(telemetry({"cpu": quiet(100, 7), "disk": quiet(100, 8)}), None)
    _, updated = analyze_anomalies(telemetry({"cpu": quiet(100, 9), "net": quiet(100, 10)}), baseline)
    assert updated["metrics"]["disk"] == baseline["metrics"]["disk"]
    assert updated["metrics"]["cpu"]["points_seen"] == 200
    assert updated["metrics"]["net"]["points_seen"] == 100


def test_a_hosts_baseline_keeps_only_its_most_recently_scored_metrics():
    first = {f"container{index}": quiet(2, index) for index in range(BASELINE_METRICS)}
    _, baseline = analyze_anomalies(telemetry(first), None)
    _, updated = analyze_anomalies(telemetry({"container0": quiet(2, 1), "disk": quiet(2, 2)}), baseline)
    assert len(updated["metrics"]) == BASELINE_METRICS
    assert "container1" not in updated["metrics"]  # the least recently scored
    assert {"container0", "container2", "disk"} <= set(updated["metrics"])
    _, again = analyze_anomalies(telemetry({"container1": quiet(2, 3)}), json.loads(json.dumps(updated)))
    assert again["metrics"]["container1"]["points_seen"] == 2  # starts cold, as a new metric does


def test_a_metric_saved_by_another_detector_version_starts_cold_and_is_reported():
    _, baseline = analyze_anomalies(telemetry({"cpu": quiet(400, 11), "mem": quiet(400, 12)}), None)
    baseline["metrics"]["cpu"]["version"] = 1  # as saved by an older detector
    later = telemetry({"cpu": quiet(600, 13), "mem": quiet(600, 14)})
    result, updated = analyze_anomalies(later, json.loads(json.dumps(baseline)))
    cold, _ = analyze_anomalies(telemetry({"cpu": quiet(600, 13)}), None)
    assert result["summary"]["cold_start_metrics"] == ["cpu"]
    assert result["scores"]["cpu"] == cold["scores"]["cpu"]
    assert updated["metrics"]["cpu"]["points_seen"] == 600
    assert updated["metrics"]["cpu"]["version"] == AnomalyDetector().snapshot()["version"]
    assert updated["metrics"]["mem"]["points_seen"] == 1000


def test_a_job_without_unusable_saved_state_reports_no_cold_start_metrics():
    _, baseline = analyze_anomalies(telemetry({"cpu": quiet(100, 15)}), None)
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(100, 16), "net": quiet(100, 17)}), baseline)
    assert result["summary"]["cold_start_metrics"] == []


def test_a_baseline_of_another_version_is_rejected():
    with pytest.raises(IncompatibleSnapshot, match="version"):
        analyze_anomalies(telemetry({"cpu": quiet(10, 1)}), {"version": 42, "metrics": {}})


@pytest.mark.parametrize("values", [[5.0], [5.0, 5.0], [0.0] * 30, [-3e12, 4e15, -1e-9]],
                         ids=["one", "two", "constant", "extreme"])
def test_tiny_and_extreme_series_give_a_complete_result(values):
    result, _ = analyze_anomalies(telemetry({"cpu": np.array(values)}, host=None), None)
    assert len(result["host_score"]) == len(values)
    assert result["summary"]["points"] == len(values)


def test_a_job_whose_state_is_not_kept_gets_the_same_result_and_no_baseline():
    data = telemetry({"cpu": quiet(900, 18), "mem": quiet(900, 19) + np.r_[np.zeros(850), np.full(50, 30)]})
    kept, baseline = analyze_anomalies(data, None)
    not_kept, no_baseline = analyze_anomalies(data, None, keep_state=False)
    assert not_kept == kept
    assert baseline is not None and no_baseline is None
