"""Samples gathered for one job, and the job's data built from them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# The host-wide metrics a threat_analysis job reads by meaning (smartcompute.detection.threat.metric_names).
THREAT_METRICS = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "disk_read_bps",
    "disk_write_bps",
    "network_in",
    "network_out",
)


class SampleWindow:
    """A metric missing from any of the window's samples (an interface that appeared during it, a counter that
    was reset) is left out of its job, and is in the next window's from its first sample."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rows: list[dict[str, float]] = []

    def __len__(self) -> int:
        return len(self.times)

    @property
    def start(self) -> float | None:
        return self.times[0] if self.times else None

    def add(self, time: float, metrics: dict[str, float]) -> None:
        self.times.append(time)
        self.rows.append(metrics)

    def data(self, host: str, only: Iterable[str] | None = None) -> dict:
        """The job's `data`: timestamps and every metric present in each sample (of `only`, when given)."""
        common = set.intersection(*(set(row) for row in self.rows))
        if only is not None:
            common &= set(only)
        return {
            "timestamps": list(self.times),
            "host": host,
            "metrics": {name: [row[name] for row in self.rows] for name in sorted(common)},
        }


def idempotency_key(kind: str, host: str, start: float) -> str:
    """The same batch always gets the same key, so a retry (or a restart that sends it again) submits it once."""
    host_part = host if len(host) <= 200 else hashlib.sha256(host.encode()).hexdigest()
    return f"agent:{kind}:{host_part}:{start:.3f}"
