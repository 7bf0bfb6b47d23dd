"""The telemetry parser every job's data goes through, whether it came from the API or not."""

from __future__ import annotations

import pytest

from smartcompute.detection.telemetry import MAX_METRIC_NAME_LENGTH, MAX_METRICS, InvalidTelemetry, parse_telemetry


def _data(metric_names) -> dict:
    return {"timestamps": [1.0, 2.0], "metrics": {name: [1.0, 2.0] for name in metric_names}}


def test_a_host_may_report_up_to_the_most_metrics_a_job_may_hold():
    names = [f"disk{index}" for index in range(MAX_METRICS)]
    assert len(parse_telemetry(_data(names), max_points=10).metrics) == MAX_METRICS
    with pytest.raises(InvalidTelemetry) as raised:
        parse_telemetry(_data([*names, "one-more"]), max_points=10)
    assert raised.value.errors == [("data.metrics", f"has {MAX_METRICS + 1} metrics; the maximum is {MAX_METRICS}")]


@pytest.mark.parametrize("name", ["", "m" * (MAX_METRIC_NAME_LENGTH + 1)])
def test_a_metric_name_must_have_1_to_255_characters(name):
    with pytest.raises(InvalidTelemetry) as raised:
        parse_telemetry(_data(["cpu", name]), max_points=10)
    assert raised.value.errors[0][0] == "data.metrics"
    assert f"one has {len(name)}" in raised.value.errors[0][1]
