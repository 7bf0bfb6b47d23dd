"""Synthetic hosts for the threat and performance tests: a busy-but-normal baseline, then injected attacks.

Times are seconds after START (Monday 2026-11-23 00:00 UTC). Every injection changes the metrics,
connections or processes the way the real thing would, so a test can check the evidence it left.
"""

from __future__ import annotations

from datetime import datetime, UTC

import numpy as np

from smartcompute.detection.telemetry import Connections, Process, Telemetry

START = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
HOST_IP = "10.0.0.5"
# A few destinations a web host talks to all day on 443 (CDN, code hosting, cloud APIs, object storage).
USUAL_DESTINATIONS = ("151.101.1.69", "140.82.112.3", "52.94.236.248", "172.217.16.142", "52.216.8.21")
BACKUP_DESTINATION = "52.216.8.21"


def at(seconds: float) -> float:
    return START + seconds


class HostScenario:
    def __init__(self, days: float = 1, seed: int = 7, step: float = 60.0, connections_per_second: float = 0.1):
        self.rng = np.random.default_rng(seed)
        self.timestamps = START + np.arange(int(days * DAY / step)) * step
        self.step = step
        self.metrics = self._baseline_metrics()
        self._connections: list[dict[str, np.ndarray]] = []
        self.processes: list[Process] = []
        self._ordinary_traffic(connections_per_second)
        self._ordinary_processes()

    # ----- the normal host -------------------------------------------------------------------------
    def daily(self, times: np.ndarray) -> np.ndarray:
        """Daily load shape in -1..1, peaking at 14:00 UTC."""
        return np.sin(2 * np.pi * ((times % DAY) / HOUR - 8) / 24)

    def _baseline_metrics(self) -> dict[str, np.ndarray]:
        shape, n, noise = self.daily(self.timestamps), self.timestamps.size, self.rng.normal
        wobble = lambda: self.rng.lognormal(0.0, 0.15, n)  # noqa: E731 - multiplicative noise
        return {
            "cpu_percent": np.clip(58 + 18 * shape + noise(0, 3, n), 0, 100),
            "mem_percent": np.clip(62 + 4 * shape + noise(0, 1, n), 0, 100),
            "disk_write_bytes": 2e6 * (1 + 0.3 * shape) * wobble(),
            "disk_read_bytes": 3e6 * (1 + 0.3 * shape) * wobble(),
            "net_in": 5e6 * (1 + 0.4 * shape) * wobble(),
            "net_out": 2e6 * (1 + 0.4 * shape) * wobble(),
            "requests": 200 * (1 + 0.5 * shape) * wobble(),
        }

    def _ordinary_traffic(self, rate: float) -> None:
        """Poisson arrivals following the daily shape, to the usual destinations on 443, plus internal DNS."""
        span = self.timestamps[-1] - self.timestamps[0] + self.step
        count = self.rng.poisson(rate * span * 1.4)
        times = self.timestamps[0] + self.rng.uniform(0, span, count)
        times = times[self.rng.uniform(0, 1.4, count) < 1 + 0.4 * self.daily(times)]
        destinations = np.array(USUAL_DESTINATIONS + ("10.0.0.2",), dtype=object)
        dst = destinations[self.rng.integers(0, destinations.size, times.size)]
        dns = dst == "10.0.0.2"
        self.add_connections(
            times,
            dst,
            np.where(dns, 53, 443),
            protocol=np.where(dns, "udp", "tcp"),
            bytes_out=self.rng.lognormal(7.5, 0.8, times.size),
            bytes_in=self.rng.lognormal(10.5, 1.0, times.size),
        )

    def _ordinary_processes(self) -> None:
        for name, cmdline, user in (
            ("nginx", "nginx: worker process", "www-data"),
            ("postgres", "postgres: checkpointer", "postgres"),
            ("python3", "python3 -m gunicorn app:wsgi --workers 4", "app"),
            ("sshd", "/usr/sbin/sshd -D", "root"),
        ):
            self.add_process(name, cmdline, 0, self.timestamps[-1] - START, user=user, cpu=5.0)

    # ----- building blocks --------------------------------------------------------------------------
    def window(self, start: float, duration: float) -> np.ndarray:
        return (self.timestamps >= at(start)) & (self.timestamps < at(start + duration))

    def add_connections(
        self, times, dst_ip, dst_port, *, src_ip=HOST_IP, protocol="tcp", bytes_out=500.0, bytes_in=500.0
    ) -> None:
        times = np.asarray(times, dtype=np.float64)
        column = lambda value, dtype: np.broadcast_to(np.asarray(value, dtype=dtype), times.shape).copy()  # noqa: E731
        self._connections.append(
            {
                "timestamp": times,
                "src_ip": column(src_ip, object),
                "dst_ip": column(dst_ip, object),
                "dst_port": column(dst_port, np.int64),
                "protocol": column(protocol, object),
                "bytes_out": column(bytes_out, np.float64),
                "bytes_in": column(bytes_in, np.float64),
            }
        )

    def add_process(
        self,
        name: str,
        cmdline: str,
        start: float,
        duration: float,
        *,
        user: str | None = "root",
        cpu: float = 1.0,
        memory: float = 1.0,
        every: float = 5 * MINUTE,
    ) -> None:
        for moment in np.arange(at(start), at(start + duration) + 1e-6, every):
            self.processes.append(Process(float(moment), name, cmdline, user, cpu, memory))

    def poisson_times(self, start: float, duration: float, count: int) -> np.ndarray:
        return np.sort(at(start) + self.rng.uniform(0, duration, count))

    # ----- attacks ----------------------------------------------------------------------------------
    def add_miner(self, start: float, duration: float, pool=("45.9.148.117", 3333)) -> None:
        """xmrig pins the CPU and keeps a stratum connection to its pool (reconnecting now and then)."""
        inside = self.window(start, duration)
        self.metrics["cpu_percent"][inside] = self.rng.uniform(96, 100, inside.sum())
        cmdline = f"/tmp/.cache/xmrig -o stratum+tcp://{pool[0]}:{pool[1]} -u 44AFFq5k --donate-level 1"
        self.add_process("xmrig", cmdline, start, duration, user="www-data", cpu=95.0)
        self.add_connections(
            self.poisson_times(start, duration, 8), pool[0], pool[1], bytes_out=40_000.0, bytes_in=60_000.0
        )

    def add_port_scan(
        self, start: float, ports: int = 1000, src_ip: str = "198.51.100.23", seconds: float = 120.0
    ) -> None:
        port_numbers = self.rng.permutation(np.arange(1, ports + 1))
        answered = np.isin(port_numbers, [22, 80, 443])
        self.add_connections(
            at(start) + np.linspace(0, seconds, ports),
            HOST_IP,
            port_numbers,
            src_ip=src_ip,
            bytes_out=60.0,
            bytes_in=np.where(answered, 120.0, 0.0),
        )

    def add_beacon(
        self,
        start: float,
        duration: float,
        interval: float = 60.0,
        jitter: float = 0.1,
        dst_ip: str = "185.220.101.45",
        dst_port: int = 443,
    ) -> None:
        beats = np.arange(0, duration, interval)
        times = at(start) + beats + self.rng.uniform(-jitter, jitter, beats.size) * interval
        self.add_connections(times, dst_ip, dst_port, bytes_out=self.rng.uniform(300, 500, beats.size), bytes_in=220.0)

    def add_exfiltration(
        self, start: float, duration: float, total_bytes: float = 2e9, dst_ip: str = "91.234.99.12"
    ) -> None:
        count = int(duration / 10)
        self.add_connections(
            self.poisson_times(start, duration, count), dst_ip, 443, bytes_out=total_bytes / count, bytes_in=2_000.0
        )
        self.metrics["net_out"][self.window(start, duration)] += total_bytes / (duration / self.step)

    def add_brute_force(
        self, start: float, attempts: int = 400, per_minute: float = 10.0, src_ip: str = "45.155.205.10", port: int = 22
    ) -> None:
        times = self.poisson_times(start, attempts / per_minute * MINUTE, attempts)
        self.add_connections(
            times,
            HOST_IP,
            port,
            src_ip=src_ip,
            bytes_out=self.rng.uniform(1500, 2500, attempts),
            bytes_in=self.rng.uniform(2500, 3500, attempts),
        )

    def add_dos(self, start: float, duration: float, factor: float = 20.0, sources: int = 500) -> None:
        inside = self.window(start, duration)
        self.metrics["net_in"][inside] *= factor
        self.metrics["requests"][inside] *= factor
        count = 20 * sources
        self.add_connections(
            self.poisson_times(start, duration, count),
            HOST_IP,
            80,
            src_ip=np.array(
                [f"203.0.{i // 250}.{i % 250 + 1}" for i in self.rng.integers(0, sources, count)], dtype=object
            ),
            bytes_out=300.0,
            bytes_in=800.0,
        )

    def add_ransomware(self, start: float, duration: float) -> None:
        inside = self.window(start, duration)
        self.metrics["disk_write_bytes"][inside] *= 30
        self.metrics["disk_read_bytes"][inside] *= 10
        self.metrics["cpu_percent"][inside] = np.clip(self.metrics["cpu_percent"][inside] + 35, 0, 100)

    def add_memory_leak(self, start: float, hours_to_full: float) -> None:
        """Memory climbs linearly to ~100% and stays there until the data ends."""
        memory, times = self.metrics["mem_percent"], self.timestamps
        begin = int(np.searchsorted(times, at(start)))
        climbing = np.clip((times[begin:] - at(start)) / (hours_to_full * HOUR), 0, 1)
        memory[begin:] = np.clip(
            memory[begin] + climbing * (100 - memory[begin]) - np.abs(self.rng.normal(0, 0.3, climbing.size)), 0, 100
        )

    def add_daily_backup(self, hour: float = 2.0, duration: float = 30 * MINUTE, total_bytes: float = 3e9) -> None:
        """The nightly upload to the usual object store; every day at the same time."""
        for day in range(int(np.ceil((self.timestamps[-1] - START) / DAY))):
            start = day * DAY + hour * HOUR
            count = int(duration / 5)
            self.add_connections(
                self.poisson_times(start, duration, count),
                BACKUP_DESTINATION,
                443,
                bytes_out=total_bytes / count,
                bytes_in=1_000.0,
            )
            inside = self.window(start, duration)
            self.metrics["net_out"][inside] += total_bytes / (duration / self.step)
            self.metrics["disk_read_bytes"][inside] *= 8

    # ----- output -----------------------------------------------------------------------------------
    def build(
        self, *, with_connections: bool = True, with_processes: bool = True, metrics: tuple[str, ...] | None = None
    ) -> Telemetry:
        chosen = {k: v.copy() for k, v in self.metrics.items() if metrics is None or k in metrics}
        return Telemetry(
            self.timestamps.copy(),
            chosen,
            "web-01",
            self.connections() if with_connections else None,
            tuple(sorted(self.processes, key=lambda p: p.timestamp)) if with_processes else (),
        )

    def connections(self) -> Connections:
        columns = {key: np.concatenate([part[key] for part in self._connections]) for key in self._connections[0]}
        order = np.argsort(columns["timestamp"], kind="stable")
        return Connections(**{key: values[order] for key, values in columns.items()})
