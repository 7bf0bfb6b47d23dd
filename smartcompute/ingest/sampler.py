"""What the agent reads from its host with psutil, one sample at a time.

Counters (disk and network bytes, packets, errors) become rates per second over the interval since the previous
sample, so every sample after the first carries them. Host-wide totals use names the threat analysis recognises
(`cpu_percent`, `memory_percent`, `disk_percent`, `disk_read_bps`, `network_in`...); per core, disk, filesystem,
interface and connection state the same quantities carry labels (see naming.py).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import TYPE_CHECKING

import psutil

from smartcompute.ingest.naming import metric_name
from smartcompute.ingest.sockets import internet_sockets

if TYPE_CHECKING:
    from smartcompute.ingest.threat_watch import ThreatWatch

_SKIPPED_DEVICES = ("loop", "ram")  # loop devices and RAM disks are not storage anyone monitors
_SKIPPED_INTERFACES = ("lo",)


# Every TCP state, so that a batch's samples all carry the same metrics (UDP sockets are NONE).
CONNECTION_STATES = (
    psutil.CONN_ESTABLISHED,
    psutil.CONN_SYN_SENT,
    psutil.CONN_SYN_RECV,
    psutil.CONN_FIN_WAIT1,
    psutil.CONN_FIN_WAIT2,
    psutil.CONN_TIME_WAIT,
    psutil.CONN_CLOSE,
    psutil.CONN_CLOSE_WAIT,
    psutil.CONN_LAST_ACK,
    psutil.CONN_LISTEN,
    psutil.CONN_CLOSING,
    psutil.CONN_NONE,
)


class HostSampler:
    """`watch`, when given, sees each sample's connections and processes (for threat_analysis jobs)."""

    def __init__(self, watch: ThreatWatch | None = None) -> None:
        self.watch = watch
        psutil.cpu_percent()  # each of these reports the time since its previous call: start the clocks
        psutil.cpu_percent(percpu=True)
        psutil.cpu_times_percent()
        self._previous: tuple[float, dict[str, float]] = (time.monotonic(), self._counters())

    def sample(self, now: float) -> dict[str, float]:
        """The host's metrics at `now` (epoch seconds)."""
        metrics: dict[str, float] = {}
        self._cpu(metrics)
        self._memory(metrics)
        self._filesystems(metrics)
        self._rates(metrics)
        connections = internet_sockets()
        states = Counter(connection.state for connection in connections)
        for state in CONNECTION_STATES:
            metrics[metric_name("connections", {"state": state})] = states.get(state, 0)
        metrics["connections"] = len(connections)
        if self.watch is not None:
            self.watch.observe(now, connections)
        return {name: round(float(value), 4) for name, value in metrics.items()}

    def _cpu(self, metrics: dict[str, float]) -> None:
        metrics["cpu_percent"] = psutil.cpu_percent()
        for core, percent in enumerate(psutil.cpu_percent(percpu=True)):
            metrics[metric_name("cpu_percent", {"core": str(core)})] = percent
        times = psutil.cpu_times_percent()
        for field in ("iowait", "steal"):
            if hasattr(times, field):
                metrics[f"cpu_{field}_percent"] = getattr(times, field)
        metrics["load1"], metrics["load5"], metrics["load15"] = psutil.getloadavg()
        metrics["processes"] = len(psutil.pids())

    @staticmethod
    def _memory(metrics: dict[str, float]) -> None:
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        metrics["memory_percent"] = memory.percent
        metrics["memory_available_bytes"] = memory.available
        metrics["swap_percent"] = swap.percent

    @staticmethod
    def _filesystems(metrics: dict[str, float]) -> None:
        fullest = None
        for partition in psutil.disk_partitions(all=False):
            try:
                used = psutil.disk_usage(partition.mountpoint).percent
            except OSError:  # unmounted since it was listed, or not readable by this user
                continue
            metrics[metric_name("disk_used_percent", {"mount": partition.mountpoint})] = used
            fullest = used if fullest is None else max(fullest, used)
        if fullest is not None:
            metrics["disk_percent"] = fullest  # the fullest filesystem: the one that stops the host first

    def _rates(self, metrics: dict[str, float]) -> None:
        now, counters = time.monotonic(), self._counters()
        before, previous = self._previous
        self._previous = (now, counters)
        elapsed = now - before
        if elapsed <= 0:
            return
        for name, value in counters.items():
            if name in previous and value >= previous[name]:  # a counter that went back was reset: no rate
                metrics[name] = (value - previous[name]) / elapsed
        for name in [name for name in metrics if name.startswith("disk_busy_ms")]:
            metrics[name.replace("disk_busy_ms", "disk_busy_percent")] = min(100.0, metrics.pop(name) / 10)

    @staticmethod
    def _counters() -> dict[str, float]:
        """Every counter a rate is made of, named as its rate will be."""
        counters: dict[str, float] = {}
        whole_disks = set(os.listdir("/sys/block")) if os.path.isdir("/sys/block") else None
        disks = psutil.disk_io_counters(perdisk=True) or {}
        for device, io in disks.items():
            if device.startswith(_SKIPPED_DEVICES) or (whole_disks is not None and device not in whole_disks):
                continue  # partitions are counted in their disk
            labels = {"device": device}
            for name, value in (
                ("disk_read_bps", io.read_bytes),
                ("disk_write_bps", io.write_bytes),
                ("disk_read_iops", io.read_count),
                ("disk_write_iops", io.write_count),
                ("disk_busy_ms", getattr(io, "busy_time", None)),
            ):
                if value is not None:
                    counters[metric_name(name, labels)] = value
                    if name in ("disk_read_bps", "disk_write_bps"):
                        counters[name] = counters.get(name, 0) + value
        for interface, io in (psutil.net_io_counters(pernic=True) or {}).items():
            if interface in _SKIPPED_INTERFACES:
                continue
            labels = {"interface": interface}
            for name, value in (
                ("net_rx_bps", io.bytes_recv),
                ("net_tx_bps", io.bytes_sent),
                ("net_rx_pps", io.packets_recv),
                ("net_tx_pps", io.packets_sent),
                ("net_errors_per_second", io.errin + io.errout),
                ("net_drops_per_second", io.dropin + io.dropout),
            ):
                counters[metric_name(name, labels)] = value
            counters["network_in"] = counters.get("network_in", 0) + io.bytes_recv
            counters["network_out"] = counters.get("network_out", 0) + io.bytes_sent
        return counters
