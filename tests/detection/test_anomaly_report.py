"""The anomaly_detection result: scores, incidents a user can act on, and a baseline that continues."""

import json

import numpy as np
import pytest

from smartcompute.detection.anomaly_report import BASELINE_METRICS, BASELINE_VERSION, analyze_anomalies
from smartcompute.detection.telemetry import Telemetry, iso8601, parse_telemetry

START = 1_700_000_000.0
MINUTE = 60.0


def telemetry(metrics: dict[str, np.ndarray], host: str | None = "web-1", start: float = START) -> Telemetry:
    points = len(next(iter(metrics.values())))
    return Telemetry(timestamps=start + MINUTE * np.arange(points), metrics=metrics, host=host)


def quiet(points: int, seed: int) -> np.ndarray:
    return 25 + np.random.default_rng(seed).normal(0, 2, points)


def saturated(points: int, seed: int, start: int, length: int) -> np.ndarray:
    values = quiet(points, seed)
    values[start : start + length] = 95 + np.random.default_rng(seed + 1).normal(0, 1, length)
    return values


def at(index: int) -> str:
    return iso8601(START + MINUTE * index)


def test_result_has_a_score_per_point_per_metric_and_a_host_score():
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(300, 1), "mem": quiet(300, 2)}), None)
    assert set(result["scores"]) == {"cpu", "mem"}
    assert all(len(scores) == 300 for scores in result["scores"].values())
    assert len(result["host_score"]) == 300
    assert all(0 <= score < 1 for score in result["host_score"])


def test_host_score_is_the_highest_metric_score_at_each_point():
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(800, 1), "mem": saturated(800, 2, 600, 100)}), None)
    assert np.allclose(result["host_score"], np.maximum(result["scores"]["cpu"], result["scores"]["mem"]))


def test_an_incident_has_a_start_an_end_a_duration_and_the_metric_that_fired():
    result, _ = analyze_anomalies(telemetry({"cpu": saturated(800, 3, 500, 60), "mem": quiet(800, 4)}), None)
    [incident] = result["incidents"]
    assert (incident["start"], incident["end"]) == (at(500), at(559))
    assert incident["duration_seconds"] == 59 * MINUTE
    assert incident["metrics"] == ["cpu"] and incident["kind"] == "level_shift"
    assert incident["status"] == "closed" and incident["resolution"] == "recovered"


def test_an_incident_says_what_it_was_judged_against():
    result, _ = analyze_anomalies(telemetry({"cpu": saturated(800, 3, 500, 60)}), None)
    reference = result["incidents"][0]["reference"]["cpu"]
    assert 24 < reference["median"] < 26
    low, high = reference["band"]
    assert 15 < low < 25 < high < 35
    assert reference["peak_value"] > 90


def test_the_onset_scores_once_and_the_rest_of_the_incident_does_not_page_again():
    result, _ = analyze_anomalies(telemetry({"cpu": saturated(800, 3, 500, 60)}), None)
    scores = np.array(result["scores"]["cpu"])
    assert scores[500] >= 0.5
    assert np.count_nonzero(scores >= 0.5) == 1


def test_a_jump_far_beyond_the_band_is_critical_and_a_small_one_is_not():
    big, _ = analyze_anomalies(telemetry({"cpu": saturated(800, 3, 500, 60)}), None)
    small_values = quiet(800, 3)
    small_values[500:560] += 14
    small, _ = analyze_anomalies(telemetry({"cpu": small_values}), None)
    assert big["incidents"][0]["severity"] == "critical"
    assert small["incidents"][0]["severity"] in ("low", "medium", "high")


def test_the_same_outage_has_the_same_severity_whatever_came_before():
    alone, _ = analyze_anomalies(telemetry({"cpu": saturated(900, 5, 600, 60)}), None)
    after_another = saturated(900, 5, 600, 60)
    after_another[300:320] = 95
    twice, _ = analyze_anomalies(telemetry({"cpu": after_another}), None)
    assert alone["incidents"][-1]["severity"] == twice["incidents"][-1]["severity"] == "critical"


def test_cold_start_a_value_far_outside_anything_seen_is_an_incident_in_a_hosts_first_job():
    values = quiet(45, 6)
    values[40] = 95.0
    result, _ = analyze_anomalies(telemetry({"cpu": values}), None)
    assert [incident["start"] for incident in result["incidents"]] == [at(40)]
    assert result["summary"]["cold_start_metrics"] == ["cpu"]


def test_an_incident_open_at_the_end_of_one_job_closes_in_the_next():
    values = saturated(1000, 7, 450, 120)
    first, baseline = analyze_anomalies(telemetry({"cpu": values[:500]}), None)
    [still_open] = first["incidents"]
    assert still_open["status"] == "open" and still_open["end"] is None
    assert still_open["duration_seconds"] == 49 * MINUTE
    second, _ = analyze_anomalies(telemetry({"cpu": values[500:]}, start=START + 500 * MINUTE), baseline)
    [closed] = second["incidents"]
    assert (closed["start"], closed["end"], closed["status"]) == (at(450), at(569), "closed")
    assert closed["peak_score"] >= 0.5 and max(second["scores"]["cpu"]) < 0.5  # the next job does not page again


def test_jobs_continued_from_a_baseline_find_what_one_long_job_finds():
    values = saturated(3000, 8, 2000, 100)
    whole, _ = analyze_anomalies(telemetry({"cpu": values}), None)
    baseline, found = None, []
    for start in range(0, 3000, 500):
        part, baseline = analyze_anomalies(
            telemetry({"cpu": values[start : start + 500]}, start=START + start * MINUTE), baseline
        )
        found += [(incident["start"], incident["end"]) for incident in part["incidents"] if incident["end"]]
    # The reference is rebuilt where a job starts, so a sample at the edge of the band may be judged a little
    # differently; the incident itself is found the same way.
    assert (at(2000), at(2099)) in found
    assert set(found) >= {(incident["start"], incident["end"]) for incident in whole["incidents"]}
    assert len(found) <= len(whole["incidents"]) + 1


def test_a_pause_in_the_telemetry_is_a_dropout_incident():
    data = {"cpu": quiet(400, 9)}
    timestamps = START + MINUTE * np.arange(400)
    timestamps[200:] += 3 * 3600  # three hours without a sample
    result, _ = analyze_anomalies(Telemetry(timestamps, data, "web-1"), None)
    [gap] = [incident for incident in result["incidents"] if incident["kind"] == "dropout"]
    assert gap["start"] == at(200) and gap["severity"] == "high"
    assert gap["duration_seconds"] == 3 * 3600


def test_a_pause_between_two_jobs_of_a_host_is_found_too():
    _, baseline = analyze_anomalies(telemetry({"cpu": quiet(300, 10)}), None)
    later = START + 300 * MINUTE + 2 * 3600
    result, _ = analyze_anomalies(telemetry({"cpu": quiet(300, 11)}, start=later), baseline)
    assert [incident["kind"] for incident in result["incidents"]] == ["dropout"]


def test_repeated_and_out_of_order_rows_are_scored_and_reported_as_warnings():
    stamps = [START + MINUTE * i for i in range(100)]
    stamps[50] = stamps[49]  # a repeated timestamp, as at a DST change in local time
    stamps[70], stamps[71] = stamps[71], stamps[70]  # a row delivered late
    data = {"timestamps": stamps, "metrics": {"cpu": quiet(100, 12).tolist()}, "host": "web-1"}
    result, _ = analyze_anomalies(parse_telemetry(data, max_points=10_000), None)
    warnings = {warning["code"]: warning for warning in result["summary"]["warnings"]}
    assert warnings["duplicate_timestamps"]["count"] == 1
    assert warnings["duplicate_timestamps"]["field"] == "data.timestamps[50]"
    assert warnings["out_of_order_rows"]["first_row"] == 71
    assert len(result["scores"]["cpu"]) == 100


def test_result_and_baseline_are_json_serialisable():
    result, baseline = analyze_anomalies(telemetry({"cpu": saturated(800, 3, 500, 60)}), None)
    assert json.loads(json.dumps(result)) == result
    assert json.loads(json.dumps(baseline)) == baseline


def test_metrics_absent_from_the_job_are_kept_in_the_baseline_and_new_ones_start_cold():
    _, baseline = analyze_anomalies(telemetry({"cpu": quiet(300, 13), "mem": quiet(300, 14)}), None)
    result, later = analyze_anomalies(
        telemetry({"cpu": quiet(300, 15), "disk": quiet(300, 16)}, start=START + 300 * MINUTE), baseline
    )
    assert result["summary"]["cold_start_metrics"] == ["disk"]
    assert set(later["metrics"]) == {"cpu", "mem", "disk"}


@pytest.mark.slow
def test_a_hosts_baseline_keeps_only_its_most_recently_scored_metrics():
    names = [f"m{i}" for i in range(BASELINE_METRICS + 5)]
    _, baseline = analyze_anomalies(
        telemetry({name: quiet(40, i) for i, name in enumerate(names[:BASELINE_METRICS])}), None
    )
    _, later = analyze_anomalies(
        telemetry({name: quiet(40, i) for i, name in enumerate(names[-5:])}, start=START + 40 * MINUTE), baseline
    )
    assert len(later["metrics"]) == BASELINE_METRICS
    assert set(names[-5:]) <= set(later["metrics"]) and "m0" not in later["metrics"]


@pytest.mark.parametrize(
    "baseline",
    [
        {"version": 1, "metrics": {"cpu": {"kind": "smartcompute.anomaly_detector"}}},
        {"version": BASELINE_VERSION, "metrics": {"cpu": {"kind": "something else"}}},
    ],
    ids=["older-baseline", "unreadable-state"],
)
def test_a_metric_whose_saved_state_cannot_be_continued_starts_cold_and_is_reported(baseline):
    result, later = analyze_anomalies(telemetry({"cpu": quiet(100, 17)}), baseline)
    assert result["summary"]["cold_start_metrics"] == ["cpu"]
    assert later["version"] == BASELINE_VERSION


@pytest.mark.parametrize("values", [[5.0], [1e300, -1e300, 1e300], [0.0] * 50, list(np.arange(60.0))])
def test_tiny_and_extreme_series_give_a_complete_result(values):
    result, _ = analyze_anomalies(telemetry({"x": np.array(values)}), None)
    assert len(result["scores"]["x"]) == len(values)
    assert json.loads(json.dumps(result)) == result


def test_a_job_whose_state_is_not_kept_gets_the_same_result_and_no_baseline():
    data = telemetry({"cpu": saturated(800, 3, 500, 60)})
    kept, _ = analyze_anomalies(data, None)
    result, baseline = analyze_anomalies(data, None, keep_state=False)
    assert result == kept and baseline is None


def test_the_result_of_ten_metrics_by_ten_thousand_points_stays_small_enough_to_poll():
    metrics = {f"metric_{i}": quiet(10_000, i) for i in range(10)}
    result, _ = analyze_anomalies(telemetry(metrics), None)
    assert len(json.dumps(result)) < 2_000_000  # docs/detection.md gives the measured size


def test_a_noisy_metric_stuck_for_days_stays_an_incident_and_is_never_the_new_normal():
    values = quiet(5 * 1440, 12)
    values[1440:] = 31.0  # a sensor stuck for four days: longer than an incident takes to become the new normal
    result, _ = analyze_anomalies(telemetry({"temperature": values}), None)
    [incident] = result["incidents"]
    assert incident["start"] in (at(1440), at(1441))  # the value itself is ordinary: its repeat is the news
    assert incident["kind"] == "flatline" and incident["status"] == "open"


def test_the_end_of_a_burst_opens_no_second_incident():
    values = quiet(3 * 1440, 13)
    values[2 * 1440 : 2 * 1440 + 30] *= 20  # half an hour at twenty times the level, on a day-old history
    result, _ = analyze_anomalies(telemetry({"net": values}), None)
    assert [(incident["start"], incident["end"]) for incident in result["incidents"]] == [
        (at(2 * 1440), at(2 * 1440 + 29))
    ]


def test_an_excursion_below_the_onset_threshold_scores_once_at_its_first_record():
    values = quiet(1000, 15)
    values[900:903] = [32.0, 32.5, 33.0]  # each higher than anything in the last six hours, none an incident
    result, _ = analyze_anomalies(telemetry({"cpu": values}), None)
    scores = np.array(result["scores"]["cpu"][900:903])
    assert result["incidents"] == []
    assert 0 < scores[0] < 0.5 and list(scores[1:]) == [0.0, 0.0]


def test_a_weekly_job_on_an_hourly_metric_is_learned_and_stops_alarming():
    hour, week = 3600.0, 7 * 86_400.0
    timestamps = week * 2800 + hour * np.arange(8 * 7 * 24)  # eight weeks from a Thursday, hourly
    values = 40 + np.random.default_rng(16).normal(0, 2, timestamps.size)
    hour_of_week = (timestamps % week) // hour
    values[(hour_of_week >= 50) & (hour_of_week < 52)] *= 6  # two busy hours every Saturday night
    telemetry_ = Telemetry(timestamps=timestamps, metrics={"disk_io": values}, host="db-1")
    result, _ = analyze_anomalies(telemetry_, None)
    late = [incident for incident in result["incidents"] if incident["start"] >= iso8601(timestamps[0] + 3 * week)]
    assert late == []
    assert result["summary"]["seasons"] == {"disk_io": "weekly"}


def test_a_new_hosts_first_days_of_hourly_noise_raise_no_incident():
    timestamps = START + 3600.0 * np.arange(5 * 24)
    result, _ = analyze_anomalies(Telemetry(timestamps, {"disk_io": quiet(timestamps.size, 16)}, "db-1"), None)
    assert result["incidents"] == []


def request_counts(points: int, seed: int) -> np.ndarray:
    """Requests a minute: a few hundred, and a quiet 3 (health checks only) one minute in ten."""
    values = np.round(np.random.default_rng(seed).lognormal(5, 0.3, points))
    values[::10] = 3.0
    return values


def test_a_common_value_coming_a_few_times_running_is_no_flatline():
    values = request_counts(3000, 17)
    values[2800:2804] = 3.0  # four quiet minutes in a row
    result, _ = analyze_anomalies(telemetry({"requests": values}), None)
    assert result["incidents"] == []


def test_a_common_value_held_for_long_is_a_flatline():
    values = request_counts(3000, 17)
    values[2800:2830] = 3.0  # half an hour of health checks only: the service behind stopped answering
    result, _ = analyze_anomalies(telemetry({"requests": values}), None)
    assert [(incident["kind"], incident["start"]) for incident in result["incidents"]][:1] == [("flatline", at(2800))]
