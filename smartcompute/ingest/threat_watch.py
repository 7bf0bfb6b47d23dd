"""The connections and processes a threat_analysis job reads, gathered from the agent's samples.

A connection is recorded once, when first seen: a long-lived one seen at every sample would otherwise look like
a perfect beacon. A process is recorded when first seen and at each sample while it is busy, so a miner's hours
at full CPU show. Each list is bounded per job, and what was left out is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psutil

from smartcompute.ingest.sockets import Socket

MAX_CONNECTIONS = 20_000
MAX_PROCESSES = 3_000
MAX_CMDLINE = 1024  # the rules look at a command's start; a job's body stays well under the API's 10 MB
BUSY_PERCENT = 10.0

T = TypeVar("T")


class ThreatWatch:
    def __init__(self) -> None:
        self.connections: list[dict] = []
        self.processes: list[dict] = []
        self.left_out = 0
        self._open_connections: set[tuple] = set()
        self._running: set[tuple] = set()

    def observe(self, now: float, connections: list[Socket]) -> None:
        self._observe_connections(now, connections)
        self._observe_processes(now)

    def take(self) -> tuple[list[dict], list[dict], int]:
        """What was gathered since the last take: (connections, processes, records left out)."""
        taken = self.connections, self.processes, self.left_out
        self.connections, self.processes, self.left_out = [], [], 0
        return taken

    def _observe_connections(self, now: float, connections: list[Socket]) -> None:
        listening = {item.local for item in connections if item.state == psutil.CONN_LISTEN}
        listening_ports = {port for ip, port in listening if ip in ("0.0.0.0", "::")}
        current = set()
        for item in connections:
            if item.remote is None:
                continue
            key = (item.protocol, item.local, item.remote)
            current.add(key)
            if key in self._open_connections:
                continue
            inbound = item.local[1] in listening_ports or item.local in listening
            source, destination = (item.remote, item.local) if inbound else (item.local, item.remote)
            self._record(
                self.connections,
                MAX_CONNECTIONS,
                {
                    "timestamp": now,
                    "src_ip": source[0],
                    "dst_ip": destination[0],
                    "dst_port": destination[1],
                    "protocol": item.protocol,
                },
            )
        self._open_connections = current  # one that closed and opens again is a new connection

    def _observe_processes(self, now: float) -> None:
        """Every process's CPU share (psutil keeps each one's previous reading); the rest only of those recorded."""
        current, total_memory = set(), psutil.virtual_memory().total
        for process in psutil.process_iter(["create_time", "cpu_percent"], ad_value=None):
            key = (process.pid, process.info["create_time"])
            current.add(key)
            cpu = process.info["cpu_percent"] or 0.0
            if key in self._running and cpu < BUSY_PERCENT:
                continue
            details = _details(process)
            if details is None:
                continue
            name, cmdline, user, rss = details
            self._record(
                self.processes,
                MAX_PROCESSES,
                {
                    "timestamp": now,
                    "name": name[:255],
                    "cmdline": cmdline[:MAX_CMDLINE],
                    "user": user,
                    "cpu_percent": round(cpu, 2),
                    "memory_percent": round(100 * rss / total_memory, 3),
                },
            )
        self._running = current

    def _record(self, records: list[dict], limit: int, record: dict) -> None:
        if len(records) < limit:
            records.append(record)
        else:
            self.left_out += 1


def _details(process: psutil.Process) -> tuple[str, str, str | None, int] | None:
    """(name, command line, user, resident bytes); what this user may not read is left empty. None when the
    process has gone, or has no name."""
    try:
        with process.oneshot():
            name = process.name()
            if not name:
                return None
            cmdline: str = _readable(lambda: " ".join(process.cmdline()), "")
            user: str | None = _readable(process.username, None)
            rss: int = _readable(lambda: process.memory_info().rss, 0)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return name, cmdline, user[:255] if user else None, rss


def _readable(read: Callable[[], T], empty: T) -> T:
    """What `read` returns, or `empty` when this user may not read it."""
    try:
        return read()
    except psutil.AccessDenied:
        return empty
