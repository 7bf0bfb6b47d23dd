"""A host's incidents: its metrics' incidents merged where they overlap, with kind, severity and reference.

An incident is what a user acts on: when it started (the first sample of the excursion that opened it), when
it ended (its last anomalous sample; none while it is still open), which metrics took part, what kind of
change it was, how bad, and what it was judged against, so the user can see why.
"""

from __future__ import annotations

import numpy as np

from smartcompute.detection.parameters import CLOSE_AFTER, CLOSE_SAMPLES
from smartcompute.detection.telemetry import iso8601

SCORE_DECIMALS = 4
# How far an incident's values go beyond its reference band, in widths of that band, for each severity.
EXCESS_FLOORS = (("critical", 3.0), ("high", 1.5), ("medium", 0.5))
# The peak score at which an incident judged against the time of day reaches each severity.
SCORE_FLOORS = (("critical", 0.9), ("high", 0.75), ("medium", 0.6))
SEVERITIES = ("low", "medium", "high", "critical")
GAP_HIGH_SECONDS = 3600.0  # a pause in the telemetry this long is of high severity


def quiet_gap(step: float) -> float:
    """How long nothing anomalous must happen before an incident (or a saturation episode) is over: samples
    closer than this belong to one event."""
    return max(CLOSE_AFTER, CLOSE_SAMPLES * step)


def score(surprise: float, threshold: float) -> float:
    """A surprise as a score in [0, 1): 0.5 at the onset threshold, 0.75 at three times it, 0.9 at nine."""
    return surprise / (surprise + threshold)


def severity(incident: dict) -> str:
    """How bad a metric's incident is, from how far it went beyond its reference, never from when it happened
    or from earlier incidents: the same outage gets the same severity whatever the job boundaries."""
    kind = incident["kind"]
    if kind == "flatline":
        return "medium"
    if kind == "dropout":
        return "high"
    if kind == "seasonal":
        peak = score(incident["peak_surprise"], incident["threshold"])
        return next((label for label, floor in SCORE_FLOORS if peak >= floor), "low")
    low, high = incident["reference"]["band"]
    width = max(high - low, 1e-9 * max(1.0, abs(high), abs(low)))
    excess = max(incident["max_value"] - high, low - incident["min_value"], 0.0) / width
    return next((label for label, floor in EXCESS_FLOORS if excess >= floor), "low")


def merge(metric_incidents: list[tuple[str, dict]], merge_gap: float, last_time: float) -> list[dict]:
    """Host incidents from (metric, incident) pairs: those overlapping in time, or apart by at most
    `merge_gap` seconds, are one. `last_time` is the job's last timestamp (where open incidents stand)."""
    spans = sorted(
        ((item["start"], _end(item, last_time), name, item) for name, item in metric_incidents),
        key=lambda span: span[0],
    )
    groups: list[list] = []
    for start, end, name, item in spans:
        if groups and start <= groups[-1][0] + merge_gap:
            groups[-1][0] = max(groups[-1][0], end)
            groups[-1][1].append((name, item))
        else:
            groups.append([end, [(name, item)]])
    return [_host_incident(members, last_time) for _, members in groups]


def _end(incident: dict, last_time: float) -> float:
    return last_time if incident.get("resolution") is None else incident["last_member"]


def _host_incident(members: list[tuple[str, dict]], last_time: float) -> dict:
    primary_name, primary = max(members, key=lambda member: score(member[1]["peak_surprise"], member[1]["threshold"]))
    is_open = any(item.get("resolution") is None for _, item in members)
    start = min(item["start"] for _, item in members)
    end = max(item["last_member"] for _, item in members)
    peak = score(primary["peak_surprise"], primary["threshold"])
    return {
        "start": iso8601(start),
        "end": None if is_open else iso8601(end),
        "duration_seconds": round(float((last_time if is_open else end) - start), 3),
        "status": "open" if is_open else "closed",
        "resolution": None if is_open else primary.get("resolution"),
        "kind": primary["kind"],
        "direction": primary["direction"],
        "metrics": sorted({name for name, _ in members}),
        "detected_at": iso8601(min(item["detected_at"] for _, item in members)),
        "peak_score": round(peak, SCORE_DECIMALS),
        "peak_at": iso8601(primary["peak_at"]),
        "severity": max((severity(item) for _, item in members), key=SEVERITIES.index),
        "reference": {name: _reference(item) for name, item in members},
    }


def _reference(incident: dict) -> dict:
    reference = incident["reference"]
    return {
        "median": _rounded(reference["median"]),
        "band": [_rounded(v) for v in reference["band"]],
        "season": reference["season"],
        "history_points": reference["history_points"],
        "peak_value": _rounded(incident["peak_value"]),
    }


def gap_incidents(
    timestamps: np.ndarray, previous_time: float | None, step: float, min_gap: float, metrics: list[str]
) -> list[dict]:
    """A pause in the telemetry longer than `min_gap` (from the last sample of the host's previous job too) is
    a dropout incident: the host, or its agent, stopped reporting."""
    times = timestamps if previous_time is None else np.concatenate([[previous_time], timestamps])
    ordered = np.sort(times)
    gaps = np.flatnonzero(np.diff(ordered) > min_gap)
    incidents = []
    for index in gaps:
        start, end = ordered[index] + step, ordered[index + 1] - step
        duration = float(ordered[index + 1] - ordered[index] - step)
        incidents.append(
            {
                "start": iso8601(start),
                "end": iso8601(max(start, end)),
                "duration_seconds": round(duration, 3),
                "status": "closed",
                "resolution": "recovered",
                "kind": "dropout",
                "direction": "down",
                "metrics": sorted(metrics),
                "detected_at": iso8601(ordered[index + 1]),
                "peak_score": None,
                "peak_at": None,
                "severity": "high" if duration >= GAP_HIGH_SECONDS else "medium",
                "reference": {"expected_interval_seconds": round(step, 3)},
            }
        )
    return incidents


def _rounded(value: float) -> float:
    return float(f"{value:.6g}")
