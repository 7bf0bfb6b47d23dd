"""Time-series charts of an anomaly_detection job, laid out on the server and drawn as inline SVG.

Each metric gets one chart: its values above, its anomaly score (0 to 1) beneath on the same time axis, and
each incident that involved the metric shaded from its start to its end (an open one to the right edge). No
charting library and nothing fetched: the page is the picture. Points past `_MOST_DRAWN` are thinned to every
n-th one (keeping the largest score of each stretch, so a spike is never thinned away); hover markers carry
each shown point's time, value and score in an SVG <title>.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartcompute.detection.telemetry import InvalidTelemetry, iso8601, parse_timestamps

WIDTH, LEFT, RIGHT = 960, 56, 12
VALUES_TOP, VALUES_HEIGHT = 10, 170
SCORES_TOP, SCORES_HEIGHT = 200, 50
HEIGHT = SCORES_TOP + SCORES_HEIGHT + 24
_MOST_DRAWN = 1500
_MOST_MARKERS = 150
_TICKS = 6
# Seconds between time ticks: whole minutes, hours, days and weeks.
_TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True)
class Shade:
    x: float
    width: float
    severity: str
    status: str
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass
class Chart:
    metric: str
    values_path: str
    scores_path: str
    shades: list[Shade] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    value_ticks: list[tuple[float, str]] = field(default_factory=list)
    time_ticks: list[tuple[float, str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    values_top: int = VALUES_TOP
    values_bottom: int = VALUES_TOP + VALUES_HEIGHT
    scores_top: int = SCORES_TOP
    scores_bottom: int = SCORES_TOP + SCORES_HEIGHT


class _Axis:
    """Maps times and values onto the chart's pixels."""

    def __init__(self, times: np.ndarray, values: np.ndarray):
        self.t0, self.t1 = float(times.min()), float(times.max())
        low, high = float(values.min()), float(values.max())
        pad = (high - low) * 0.08 or max(abs(high) * 0.1, 1.0)
        self.low, self.high = low - pad, high + pad

    def x(self, epoch: float) -> float:
        span = (self.t1 - self.t0) or 1.0
        return round(LEFT + (min(max(epoch, self.t0), self.t1) - self.t0) / span * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        return round(VALUES_TOP + (self.high - value) / (self.high - self.low) * VALUES_HEIGHT, 1)


def _score_y(score: float) -> float:
    return round(SCORES_TOP + (1 - min(max(score, 0.0), 1.0)) * SCORES_HEIGHT, 1)


def _thinned(order: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """At most `_MOST_DRAWN` row indices in time order, each the highest-scoring row of its stretch."""
    if len(order) <= _MOST_DRAWN:
        return order
    stretches = np.array_split(order, _MOST_DRAWN)
    return np.array([stretch[int(np.argmax(scores[stretch]))] for stretch in stretches])


def _path(points: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x},{y}" for x, y in points) if points else ""


def _number(value: float) -> str:
    return f"{value:.4g}"


def _value_ticks(axis: _Axis) -> list[tuple[float, str]]:
    return [(axis.y(value), _number(value)) for value in np.linspace(axis.low, axis.high, 4)]


def _time_ticks(axis: _Axis) -> list[tuple[float, str, str]]:
    """(x, label, text-anchor) at whole minutes, hours or days, at most `_TICKS` of them."""
    span = axis.t1 - axis.t0
    step = next(
        (each for each in _TICK_STEPS if span / each <= _TICKS),
        _TICK_STEPS[-1] * math.ceil(span / _TICK_STEPS[-1] / _TICKS),
    )
    same_day = iso8601(axis.t0)[:10] == iso8601(axis.t1)[:10]
    ticks = []
    for epoch in np.arange(math.ceil(axis.t0 / step) * step, axis.t1 + 1e-6, step):
        text, x = iso8601(float(epoch)), axis.x(float(epoch))
        anchor = "start" if x - LEFT < 20 else "end" if WIDTH - RIGHT - x < 20 else "middle"
        ticks.append((x, text[11:16] if same_day else f"{text[5:10]} {text[11:16]}", anchor))
    return ticks


def _epoch(text: str | None) -> float | None:
    try:
        return float(parse_timestamps([text])[0]) if text else None
    except InvalidTelemetry:
        return None


def _shades(metric: str, incidents: list[dict[str, Any]], axis: _Axis) -> list[Shade]:
    shades = []
    for incident in incidents:
        if metric not in incident.get("metrics", ()):
            continue
        start = _epoch(incident.get("start"))
        end = axis.t1 if incident.get("status") == "open" else _epoch(incident.get("end"))
        if start is None or end is None:
            continue
        left, right = axis.x(start), axis.x(end)
        label = (
            f"{incident.get('severity', '')} {incident.get('kind', '')} {incident.get('status', '')}: "
            f"{incident.get('start')} to {incident.get('end') or 'now (open)'}"
        )
        shades.append(
            Shade(
                left, max(right - left, 2.0), str(incident.get("severity", "")), str(incident.get("status", "")), label
            )
        )
    return shades


def metric_chart(
    metric: str, times: np.ndarray, values: np.ndarray, scores: np.ndarray, incidents: list[dict[str, Any]]
) -> Chart:
    order = np.argsort(times, kind="stable")
    drawn = _thinned(order, scores)
    axis = _Axis(times, values)
    chart = Chart(
        metric,
        _path([(axis.x(times[i]), axis.y(values[i])) for i in drawn]),
        _path([(axis.x(times[i]), _score_y(scores[i])) for i in drawn]),
        _shades(metric, incidents, axis),
        value_ticks=_value_ticks(axis),
        time_ticks=_time_ticks(axis),
    )
    step = max(1, math.ceil(len(drawn) / _MOST_MARKERS))
    chart.markers = [
        Marker(
            axis.x(times[i]),
            axis.y(values[i]),
            f"{iso8601(float(times[i]))}  {metric} {_number(values[i])}  score {scores[i]:.3f}",
        )
        for i in drawn[::step]
    ]
    return chart


def job_charts(data: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    """One chart per metric of an anomaly_detection job's telemetry, with its scores and incidents."""
    try:
        times = parse_timestamps(data.get("timestamps") or [])
    except InvalidTelemetry:
        return []
    if not len(times):
        return []
    incidents = result.get("incidents") or []
    charts = []
    for metric, raw in (data.get("metrics") or {}).items():
        values = np.asarray(raw, dtype=np.float64)
        scores = np.asarray((result.get("scores") or {}).get(metric) or np.zeros(len(values)), dtype=np.float64)
        if len(values) != len(times) or len(scores) != len(times):
            continue
        charts.append(metric_chart(metric, times, values, scores, incidents))
    return charts
