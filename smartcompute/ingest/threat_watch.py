"""The connections and processes a threat_analysis job reads, gathered from the agent's samples.

A connection is recorded once, when first seen: a long-lived one seen at every sample would otherwise look like
a perfect beacon. A process is recorded when first seen and at each sample while it is busy, so a miner's hours
at full CPU show. Each list is bounded per job, and what was left out is counted.
"""
from __future__ import annotations

import socket

import psutil

MAX_CONNECTIONS = 20_000
MAX_PROCESSES = 3_000
MAX_CMDLINE = 1024  # the rules look at a command's start; a job's body stays well under the API's 10 MB
BUSY_PERCENT = 10.0
_PROCESS_FIELDS = ("pid", "name", "cmdline", "username", "cpu_percent", "memory_percent", "create_time")


class ThreatWatch:
    def __init__(self) -> None:
        self.connections: list[dict] = []
        self.processes: list[dict] = []
        self.left_out = 0
        self._open_connections: set[tuple] = set()
        self._running: set[tuple] = set()

    def observe(self, now: float, connections: list) -> None:
        self._observe_connections(now, connections)
        self._observe_processes(now)

    def take(self) -> tuple[list[dict], list[dict], int]:
        """What was gathered since the last take: (connections, processes, records left out)."""
        taken = self.connections, self.processes, self.left_out
        self.connections, self.processes, self.left_out = [], [], 0
        return taken

    def _observe_connections(self, now: float, connections: list) -> None:
        listening = {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
        listening_ports = {port for ip, port in listening if ip in ("0.0.0.0", "::")}
        current = set()
        for connection in connections:
            if not connection.raddr:
                continue
            local, remote = connection.laddr, connection.raddr
            key = (connection.type, local.ip, local.port, remote.ip, remote.port)
            current.add(key)
            if key in self._open_connections:
                continue
            inbound = local.port in listening_ports or (local.ip, local.port) in listening
            source, destination = (remote, local) if inbound else (local, remote)
            self._record(self.connections, MAX_CONNECTIONS, {
                "timestamp": now, "src_ip": source.ip, "dst_ip": destination.ip, "dst_port": destination.port,
                "protocol": "udp" if connection.type == socket.SOCK_DGRAM else "tcp"})
        self._open_connections = current  # one that closed and opens again is a new connection

    def _observe_processes(self, now: float) -> None:
        current = set()
        for process in psutil.process_iter(_PROCESS_FIELDS, ad_value=None):
            info = process.info
            key = (info["pid"], info["create_time"])
            current.add(key)
            cpu = info["cpu_percent"] or 0.0
            if key in self._running and cpu < BUSY_PERCENT or not info["name"]:
                continue
            self._record(self.processes, MAX_PROCESSES, {
                "timestamp": now, "name": info["name"][:255], "cmdline": " ".join(info["cmdline"] or [])[:MAX_CMDLINE],
                "user": (info["username"] or None) and info["username"][:255], "cpu_percent": round(cpu, 2),
                "memory_percent": round(info["memory_percent"] or 0.0, 3)})
        self._running = current

    def _record(self, records: list[dict], limit: int, record: dict) -> None:
        if len(records) < limit:
            records.append(record)
        else:
            self.left_out += 1

