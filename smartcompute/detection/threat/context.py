"""What every detector reads: the host's metrics by canonical name and its connections as integer codes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from smartcompute.detection.telemetry import Connections, Process, Telemetry
from smartcompute.detection.threat.metric_names import HostMetric, recognise_metrics

# Destinations inside the organisation; periodic traffic to them is usually a monitoring agent.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


@dataclass(frozen=True)
class ConnectionIndex:
    """Connections with their text columns replaced by codes into sorted name tables.

    Encoding once lets every detector group 100k records with bincount and unique on integers.
    """

    timestamp: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    src_names: np.ndarray
    dst_names: np.ndarray
    protocol_names: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @cached_property
    def flow_keys(self) -> np.ndarray:
        """One int64 per (src, dst, dst_port): the unit a brute force or beacon is measured on."""
        return (self.src * self.dst_names.shape[0] + self.dst) * 65536 + self.dst_port

    def split_flow_key(self, key: int) -> tuple[str, str, int]:
        pair, port = divmod(int(key), 65536)
        src, dst = divmod(pair, int(self.dst_names.shape[0]))
        return str(self.src_names[src]), str(self.dst_names[dst]), port


@dataclass(frozen=True)
class Groups:
    """Rows grouped by an integer key without a Python loop over rows: rows_of(i) is one slice."""

    keys: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    def rows_of(self, index: int) -> np.ndarray:
        return self.order[self.bounds[index] : self.bounds[index + 1]]

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.bounds)


def group_rows(keys: np.ndarray) -> Groups:
    """Stable sort by key, so each group's rows keep their time order."""
    order = np.argsort(keys, kind="stable")
    unique_keys, starts = np.unique(keys[order], return_index=True)
    return Groups(unique_keys, order, np.append(starts, keys.shape[0]))


def index_connections(connections: Connections) -> ConnectionIndex:
    src_names, src = np.unique(connections.src_ip, return_inverse=True)
    dst_names, dst = np.unique(connections.dst_ip, return_inverse=True)
    protocol_names, protocol = np.unique(connections.protocol, return_inverse=True)
    return ConnectionIndex(
        timestamp=connections.timestamp,
        src=src.astype(np.int64),
        dst=dst.astype(np.int64),
        dst_port=connections.dst_port.astype(np.int64),
        protocol=protocol.astype(np.int64),
        bytes_out=connections.bytes_out,
        bytes_in=connections.bytes_in,
        src_names=src_names,
        dst_names=dst_names,
        protocol_names=protocol_names,
    )


@lru_cache(maxsize=4096)
def is_internal_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a hostname: treat as external, the safer assumption
    return any(ip in network for network in _INTERNAL_NETWORKS if network.version == ip.version)


@dataclass(frozen=True)
class HostContext:
    timestamps: np.ndarray
    metrics: dict[str, HostMetric]
    connections: ConnectionIndex | None
    processes: tuple[Process, ...]

    def metric(self, canonical: str) -> HostMetric | None:
        return self.metrics.get(canonical)

    def required_metric(self, canonical: str) -> HostMetric:
        """The metric, for a detector whose availability check made sure the data has it."""
        metric = self.metrics.get(canonical)
        if metric is None:
            raise LookupError(f"this detector needs the {canonical} metric")
        return metric

    def required_connections(self) -> ConnectionIndex:
        """The connections, for a detector whose availability check made sure the data has them."""
        if self.connections is None:
            raise LookupError("this detector needs connection records")
        return self.connections


def build_context(telemetry: Telemetry) -> HostContext:
    connections = telemetry.connections
    indexed = index_connections(connections) if connections is not None and len(connections) else None
    return HostContext(telemetry.timestamps, recognise_metrics(telemetry.metrics), indexed, telemetry.processes)
