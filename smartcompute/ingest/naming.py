"""Metric names that carry their labels, Prometheus' way: `disk_read_bps{device="sda"}`. The agent and the
Prometheus import name metrics alike, so one host's metrics read the same whichever way they came in."""

from __future__ import annotations

import hashlib

from smartcompute.detection.telemetry import MAX_METRIC_NAME_LENGTH


def metric_name(name: str, labels: dict[str, str] | None = None) -> str:
    """`name{label="value",...}` with the labels sorted; a name longer than the API takes keeps its start and
    ends in a hash of the whole, so it stays unique."""
    text = name
    if labels:
        text += "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in sorted(labels.items())) + "}"
    if len(text) <= MAX_METRIC_NAME_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return text[: MAX_METRIC_NAME_LENGTH - len(digest) - 1] + "~" + digest


def _escaped(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
