"""The host's internet sockets: protocol, local and remote address, and TCP state.

On Linux they are read from /proc/net/{tcp,tcp6,udp,udp6}. psutil.net_connections lists the same, but first
finds each socket's process by reading every process's open files (25 ms for 500 sockets and 170 processes on the
development VM, half of what the agent spent per sample); the agent needs no process. Elsewhere psutil lists them.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

import psutil

_TABLES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6), ("udp", socket.AF_INET), ("udp6", socket.AF_INET6))
_TCP_STATES = {
    "01": psutil.CONN_ESTABLISHED,
    "02": psutil.CONN_SYN_SENT,
    "03": psutil.CONN_SYN_RECV,
    "04": psutil.CONN_FIN_WAIT1,
    "05": psutil.CONN_FIN_WAIT2,
    "06": psutil.CONN_TIME_WAIT,
    "07": psutil.CONN_CLOSE,
    "08": psutil.CONN_CLOSE_WAIT,
    "09": psutil.CONN_LAST_ACK,
    "0A": psutil.CONN_LISTEN,
    "0B": psutil.CONN_CLOSING,
}


@dataclass(frozen=True)
class Socket:
    protocol: str  # tcp or udp
    local: tuple[str, int]
    remote: tuple[str, int] | None  # None until connected (listening, or an unconnected UDP socket)
    state: str  # psutil's names; UDP sockets have none (NONE)


def internet_sockets() -> list[Socket]:
    if not os.path.exists("/proc/net/tcp"):
        return _from_psutil()
    found = []
    for table, family in _TABLES:
        try:
            with open(f"/proc/net/{table}") as listing:
                rows = listing.readlines()[1:]
        except OSError:  # no IPv6 on this host
            continue
        for row in rows:
            fields = row.split()
            local, remote = _address(fields[1], family), _address(fields[2], family)
            udp = table.startswith("udp")
            found.append(
                Socket(
                    "udp" if udp else "tcp",
                    local,
                    None if remote[1] == 0 else remote,
                    psutil.CONN_NONE if udp else _TCP_STATES.get(fields[3], psutil.CONN_NONE),
                )
            )
    return found


def _address(text: str, family: int) -> tuple[str, int]:
    """`0100007F:1F90` (the kernel's byte order: 32-bit words, each in host order) as ("127.0.0.1", 8080)."""
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    words = (
        b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
    )
    return socket.inet_ntop(family, words), int(port, 16)


def _from_psutil() -> list[Socket]:
    try:
        listed = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:  # macOS lists other users' sockets only to root
        return []
    return [
        Socket(
            "udp" if item.type == socket.SOCK_DGRAM else "tcp",
            (item.laddr.ip, item.laddr.port),
            (item.raddr.ip, item.raddr.port) if item.raddr else None,
            item.status,
        )
        for item in listed
    ]
