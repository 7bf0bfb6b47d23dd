"""Performance analysis: every figure is computed from the data and checked against a known answer."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcompute.detection.performance import analyze_performance
from smartcompute.detection.telemetry import InvalidTelemetry, Telemetry, iso8601
from tests.detection.scenarios import DAY, HOUR, MINUTE, START


def telemetry(metrics: dict, step: float = 60.0) -> Telemetry:
    points = len(next(iter(metrics.values())))
    return Telemetry(START + step * np.arange(points), {k: np.asarray(v, float) for k, v in metrics.items()}, "h")


def days_of_minutes(days: float) -> np.ndarray:
    return np.arange(int(days * DAY / 60)) * 60.0


def test_stats_match_numpy_on_known_data():
    rng = np.random.default_rng(11)
    values = rng.gamma(2.0, 10.0, 2000)
    stats = analyze_performance(telemetry({"latency_ms": values}))["metrics"]["latency_ms"]
    assert stats["mean"] == pytest.approx(values.mean(), abs=1e-3)
    for q in (50, 95, 99):
        assert stats[f"p{q}"] == pytest.approx(np.percentile(values, q), abs=1e-3)
    assert stats["max"] == pytest.approx(values.max(), abs=1e-3)
    assert stats["unit"] is None and stats["canonical"] is None and "headroom" not in stats


def test_a_cpu_saturation_episode_has_the_right_start_end_and_duration():
    cpu = np.full(24 * 60, 50.0)
    cpu[600:642] = 97.0  # 10:00 to 10:41 inclusive: 42 one-minute samples
    cpu[900:910] = 99.0  # ten minutes is too short to count
    report = analyze_performance(telemetry({"cpu_percent": cpu}))

    assert report["saturation_episodes"] == [
        {
            "metric": "cpu_percent",
            "start": iso8601(START + 10 * HOUR),
            "end": iso8601(START + 10 * HOUR + 42 * MINUTE),
            "duration_minutes": 42.0,
            "peak": 97.0,
            "mean": 97.0,
            "threshold_percent": 90.0,
        }
    ]
    assert report["metrics"]["cpu_percent"]["saturation"]["minutes_total"] == 42.0


def test_a_rising_memory_trend_gives_slope_per_day_and_time_to_saturation():
    rng = np.random.default_rng(11)
    t = days_of_minutes(5)
    memory = 40 + 5.0 * t / DAY + rng.normal(0, 1.0, t.size)  # +5 points a day, ends near 65%
    stats = analyze_performance(telemetry({"mem_percent": memory}))["metrics"]["mem_percent"]

    assert stats["trend"]["direction"] == "rising"
    assert stats["trend"]["slope_per_day"] == pytest.approx(5.0, abs=0.1)
    assert stats["headroom"]["percent_at_p95"] == pytest.approx(100 - np.percentile(memory, 95), abs=1e-3)
    assert stats["headroom"]["days_to_saturation"] == pytest.approx(35 / 5.0, abs=0.3)


def test_white_noise_has_no_trend_and_no_daily_seasonality():
    rng = np.random.default_rng(11)
    t = days_of_minutes(4)
    stats = analyze_performance(telemetry({"requests": 100 + rng.normal(0, 10, t.size)}))["metrics"]["requests"]
    assert stats["trend"]["direction"] == "flat"
    assert stats["seasonality"]["detected"] is False
    assert abs(stats["seasonality"]["autocorrelation_1d"]) < 0.1


def test_a_sine_with_a_24_hour_period_is_daily_seasonality_with_its_peak_hour():
    rng = np.random.default_rng(11)
    t = days_of_minutes(4)
    load = 100 + 40 * np.sin(2 * np.pi * (t / HOUR - 9.5) / 24) + rng.normal(0, 5, t.size)  # peaks at 15:30
    stats = analyze_performance(telemetry({"requests": load}))["metrics"]["requests"]
    seasonality = stats["seasonality"]
    assert seasonality["detected"] is True
    assert seasonality["autocorrelation_1d"] > 0.9
    assert seasonality["variance_explained"] > 0.9
    assert seasonality["peak_hour_utc"] == 15 and seasonality["trough_hour_utc"] == 3
    assert seasonality["amplitude"] == pytest.approx(80, rel=0.1)
    # the cycle is removed before fitting the trend, so whole-cycle data shows none
    assert stats["trend"]["direction"] == "flat"


def test_under_two_days_seasonality_is_not_claimed_and_the_trend_is_marked_unreliable():
    t = days_of_minutes(1)
    stats = analyze_performance(telemetry({"cpu": 50 + 20 * np.sin(2 * np.pi * t / DAY)}))["metrics"]["cpu"]
    assert stats["seasonality"] == {"detected": False, "reason": "needs at least 2 days of data"}
    assert stats["trend"]["reliable"] is False


def test_recommendations_cite_the_numbers_they_rest_on():
    rng = np.random.default_rng(11)
    t = days_of_minutes(3)
    cpu = np.clip(70 + 15 * np.sin(2 * np.pi * (t / HOUR - 8) / 24) + rng.normal(0, 2, t.size), 0, 100)
    cpu[int(DAY / 60) + 600 : int(DAY / 60) + 630] = 98.0
    memory = np.clip(50 + 8.0 * t / DAY + rng.normal(0, 0.5, t.size), 0, 100)
    report = analyze_performance(telemetry({"cpu_percent": cpu, "mem_percent": memory}))
    advice = {(r["metric"], r["kind"]): r for r in report["recommendations"]}

    saturation = advice[("cpu_percent", "saturation")]
    assert saturation["priority"] == "high"
    assert saturation["numbers"]["longest_minutes"] == 30.0
    assert "30 min" in saturation["message"]
    assert f"p95 is {report['metrics']['cpu_percent']['p95']:.1f}%" in saturation["message"]
    rising = advice[("mem_percent", "rising_trend")]
    memory_stats = report["metrics"]["mem_percent"]
    assert memory_stats["trend"]["slope_per_day"] == pytest.approx(8.0, abs=0.1)
    assert f"rising {memory_stats['trend']['slope_per_day']:.2f} points/day" in rising["message"]
    assert f"in {memory_stats['headroom']['days_to_saturation']:.1f} days" in rising["message"]
    peak = advice[("cpu_percent", "daily_peak")]
    assert f"{report['metrics']['cpu_percent']['seasonality']['peak_hour_utc']:02d}:00 UTC" in peak["message"]


def test_an_idle_host_is_told_it_is_over_provisioned():
    rng = np.random.default_rng(11)
    t = days_of_minutes(2)
    report = analyze_performance(telemetry({"cpu": 5 + rng.normal(0, 1, t.size).clip(-4, 4)}))
    assert [r["kind"] for r in report["recommendations"]] == ["over_provisioned"]


def test_a_single_point_and_a_constant_series_do_not_crash():
    single = analyze_performance(telemetry({"cpu": [42.0]}))
    assert single["metrics"]["cpu"]["p99"] == 42.0 and single["metrics"]["cpu"]["trend"]["direction"] == "flat"
    constant = analyze_performance(telemetry({"cpu": [42.0] * 5000}))["metrics"]["cpu"]
    assert constant["trend"]["slope_per_day"] == 0.0
    assert constant["seasonality"]["detected"] is False


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([1.0, 60.0, 3600.0]),
)
def test_any_finite_percentage_series_gives_a_json_report_with_numpy_percentiles(values, step):
    report = analyze_performance(telemetry({"cpu_percent": values}, step=step))
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["metrics"]["cpu_percent"]["p95"] == pytest.approx(np.percentile(values, 95), abs=1e-3)


def test_metrics_named_as_percentages_get_headroom_and_others_do_not():
    report = analyze_performance(telemetry({"CPU_Usage": [50.0, 60.0], "memory": [8e9, 8e9], "disk_write": [1.0, 2.0]}))
    assert report["metrics"]["CPU_Usage"]["unit"] == "percent"
    assert report["metrics"]["CPU_Usage"]["headroom"]["percent_at_p95"] == pytest.approx(100 - 59.5)
    assert report["metrics"]["CPU_Usage"]["canonical"] == "cpu"
    assert "headroom" not in report["metrics"]["memory"]  # bare "memory" in bytes is not a percentage
    assert report["metrics"]["disk_write"]["unit"] is None


def test_a_percentage_over_100_is_rejected_with_its_field_path():
    with pytest.raises(InvalidTelemetry) as raised:
        analyze_performance(telemetry({"mem_percent": [50.0, 101.0]}))
    assert raised.value.errors[0][0] == "data.metrics.mem_percent[1]"
