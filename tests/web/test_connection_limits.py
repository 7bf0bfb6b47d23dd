"""At its connection limit (gunicorn's `worker_connections`), or out of file descriptors, an API process stops
accepting for a while and goes on serving the connections it holds (web/gunicorn_worker.py)."""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import httpx

from bench.procs import cpu_seconds
from tests.support import gunicorn_server, wait_until
from tests.web.test_slow_clients import answer_of, slow_connections

PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\n"


def test_at_its_connection_limit_the_api_serves_what_it_holds_and_takes_a_client_once_one_leaves(
        base_env, tmp_path):
    env = {**base_env, "GUNICORN_CMD_ARGS": "--worker-connections 12", "REQUEST_RECEIVE_TIMEOUT": "10"}
    with gunicorn_server(env, tmp_path) as server, ExitStack() as stack:
        held = slow_connections(stack, server.port, 12, PARTIAL_HEAD)
        time.sleep(0.5)
        waiting: dict[str, object] = {}
        newcomer = threading.Thread(target=lambda: waiting.update(
            answer=httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=10), at=time.monotonic()))
        newcomer.start()
        worker = server.worker_pid()
        cpu_before = cpu_seconds([worker])
        time.sleep(1.5)
        assert not waiting and cpu_seconds([worker]) - cpu_before < 0.5  # waiting in the backlog, not spinning
        held[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(held[0])[0] == 200
        left = time.monotonic()
        newcomer.join()
    assert waiting["answer"].status_code == 200 and waiting["at"] - left < 2


def test_out_of_file_descriptors_the_api_pauses_accepting_instead_of_restarting(base_env, tmp_path):
    with gunicorn_server(base_env, tmp_path, open_files=64) as server:
        worker = server.worker_pid()
        with ExitStack() as stack:
            slow_connections(stack, server.port, 80, b"")
            wait_until(lambda: b"cannot accept connections (Too many open files)"
                       in (tmp_path / "gunicorn.log").read_bytes(), 10, "the worker to run out of descriptors")
        assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200
        assert server.worker_pid() == worker
