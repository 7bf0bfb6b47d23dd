"""What the agent reads from this machine: its metrics, its sockets, and the connections and processes a
threat job gets."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from smartcompute.ingest.sampler import CONNECTION_STATES, HostSampler
from smartcompute.ingest.sockets import internet_sockets
from smartcompute.ingest.threat_watch import ThreatWatch


def test_a_sample_has_the_host_totals_threat_analysis_recognises_and_labelled_details():
    sampler = HostSampler()
    time.sleep(0.2)
    sample = sampler.sample(time.time())
    assert {
        "cpu_percent",
        "memory_percent",
        "disk_percent",
        "disk_read_bps",
        "network_in",
        "network_out",
        "load1",
        "swap_percent",
        "connections",
    } <= set(sample)
    assert 'cpu_percent{core="0"}' in sample and 'disk_used_percent{mount="/"}' in sample
    assert {f'connections{{state="{state}"}}' for state in CONNECTION_STATES} <= set(sample)
    assert all(math.isfinite(value) for value in sample.values()) and 0 <= sample["cpu_percent"] <= 100


def test_the_socket_table_is_psutils_without_the_processes():
    listening = {(item.protocol, item.local) for item in internet_sockets() if item.state == psutil.CONN_LISTEN}
    expected = {
        ("udp" if item.type == socket.SOCK_DGRAM else "tcp", (item.laddr.ip, item.laddr.port))
        for item in psutil.net_connections("inet")
        if item.status == psutil.CONN_LISTEN
    }
    assert listening == expected and listening


def test_a_connection_is_recorded_once_from_each_end_however_long_it_lasts():
    watch = ThreatWatch()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)), server.accept()[0]:
            for _ in range(3):
                watch.observe(time.time(), internet_sockets())
    records = [record for record in watch.take()[0] if record["dst_port"] == port]
    assert len(records) == 2  # the client's connection out, and the server's connection in, each once
    assert {(record["src_ip"], record["dst_ip"], record["protocol"]) for record in records} == {
        ("127.0.0.1", "127.0.0.1", "tcp")
    }


@pytest.mark.slow  # samples twice, a fraction of a second apart
def test_a_busy_process_is_recorded_at_every_sample_and_an_idle_one_once():
    busy_marker, idle_marker = uuid.uuid4().hex, uuid.uuid4().hex
    busy = subprocess.Popen([sys.executable, "-c", f"# {busy_marker}\nwhile True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", f"# {idle_marker}\nimport time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        watch = ThreatWatch()
        for _ in range(4):
            watch.observe(time.time(), [])
            time.sleep(0.3)
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()
    _, processes, _ = watch.take()
    assert sum(busy_marker in record["cmdline"] for record in processes) >= 3
    [idle_record] = [record for record in processes if idle_marker in record["cmdline"]]
    assert idle_record["name"].startswith("python") and idle_record["user"] and idle_record["memory_percent"] > 0
