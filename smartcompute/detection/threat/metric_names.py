"""The one table that maps free-form metric names onto the quantities the detectors understand."""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Mapping

import numpy as np

from smartcompute.detection.telemetry import InvalidTelemetry

# canonical name -> accepted spellings, in order of preference when a payload has several.
# Names are compared after lower-casing and turning '-', '.', '/' and spaces into '_'. A percentage name that
# says so ("cpu_percent") must stay within 0..100; a bare one ("memory") above 100 is taken to be in other units.
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu", "cpu_percent", "cpu_usage", "cpu_pct", "cpu_util", "cpu_utilization", "cpu_used_percent"),
    "memory": (
        "memory",
        "memory_percent",
        "mem_percent",
        "mem",
        "memory_usage",
        "mem_usage",
        "memory_pct",
        "mem_pct",
        "memory_util",
        "memory_used_percent",
        "ram",
        "ram_percent",
    ),
    "disk_usage": ("disk_usage", "disk_percent", "disk_used_percent", "disk_pct", "disk_util"),
    "disk_write": (
        "disk_write",
        "disk_write_bytes",
        "disk_writes",
        "disk_write_bps",
        "write_bytes",
        "io_write",
        "io_write_bytes",
        "disk_io_write",
    ),
    "disk_read": (
        "disk_read",
        "disk_read_bytes",
        "disk_reads",
        "disk_read_bps",
        "read_bytes",
        "io_read",
        "io_read_bytes",
        "disk_io_read",
    ),
    "network_in": (
        "network_in",
        "net_in",
        "bytes_in",
        "network_bytes_in",
        "net_bytes_in",
        "rx_bytes",
        "net_rx",
        "network_rx",
        "inbound_bytes",
        "bytes_recv",
        "bytes_received",
    ),
    "network_out": (
        "network_out",
        "net_out",
        "bytes_out",
        "network_bytes_out",
        "net_bytes_out",
        "tx_bytes",
        "net_tx",
        "network_tx",
        "outbound_bytes",
        "bytes_sent",
    ),
    "requests": (
        "requests",
        "request_count",
        "requests_per_second",
        "requests_per_minute",
        "rps",
        "request_rate",
        "http_requests",
        "req_count",
        "reqs",
    ),
}

# Quantities measured in percent of a capacity: 0..100, and 100 means saturated.
PERCENT_METRICS = frozenset({"cpu", "memory", "disk_usage"})

_SEPARATORS = re.compile(r"[\s\-./]+")
_ALIAS_TO_CANONICAL = {alias: canonical for canonical, aliases in METRIC_ALIASES.items() for alias in aliases}
_ALIAS_RANK = {alias: rank for aliases in METRIC_ALIASES.values() for rank, alias in enumerate(aliases)}


@dataclass(frozen=True)
class HostMetric:
    canonical: str
    source_name: str
    values: np.ndarray

    @property
    def is_percent(self) -> bool:
        return self.canonical in PERCENT_METRICS


def normalise(name: str) -> str:
    return _SEPARATORS.sub("_", name.strip().lower())


def canonical_name(name: str) -> str | None:
    return _ALIAS_TO_CANONICAL.get(normalise(name))


def recognise_metrics(metrics: Mapping[str, np.ndarray]) -> dict[str, HostMetric]:
    """canonical name -> the payload's series for it, the most specific spelling winning when several appear.

    Raises InvalidTelemetry when a recognised metric holds values it cannot have (negative, or a percentage
    above 100): only the engine knows what the names mean, so only it can reject these.
    """
    recognised = [
        HostMetric(canonical, source_name, values)
        for source_name, values in metrics.items()
        if (canonical := canonical_name(source_name)) is not None
        and not _bare_name_out_of_range(canonical, source_name, values)
    ]
    errors = [error for metric in recognised for error in _impossible_values(metric)]
    if errors:
        raise InvalidTelemetry(errors)
    chosen: dict[str, HostMetric] = {}
    for metric in sorted(recognised, key=lambda m: _ALIAS_RANK[normalise(m.source_name)]):
        chosen.setdefault(metric.canonical, metric)
    return chosen


def _bare_name_out_of_range(canonical: str, source_name: str, values: np.ndarray) -> bool:
    """A bare "memory" or "cpu" above 100 is bytes or multi-core time, not a percentage: leave it unrecognised."""
    return canonical in PERCENT_METRICS and not says_percent(source_name) and bool(np.any(values > 100.0))


def is_percentage(source_name: str, values: np.ndarray) -> bool:
    """Whether a payload's series is a 0..100 share of a capacity, by the same rules recognise_metrics uses."""
    canonical = canonical_name(source_name)
    return canonical in PERCENT_METRICS and not _bare_name_out_of_range(canonical, source_name, values)


def says_percent(source_name: str) -> bool:
    return any(word in normalise(source_name) for word in ("percent", "pct", "util"))


def _impossible_values(metric: HostMetric) -> list[tuple[str, str]]:
    field = f"data.metrics.{metric.source_name}"
    negative = np.flatnonzero(metric.values < 0)
    if negative.size:
        index = int(negative[0])
        return [(f"{field}[{index}]", f"{metric.canonical} cannot be negative (got {metric.values[index]:g})")]
    if metric.is_percent:
        over = np.flatnonzero(metric.values > 100.0)
        if over.size:
            index = int(over[0])
            return [
                (
                    f"{field}[{index}]",
                    f"{metric.canonical} is a percentage and must be at most 100 (got {metric.values[index]:g})",
                )
            ]
    return []
