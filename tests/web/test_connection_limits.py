"""At its connection limit (gunicorn's `worker_connections`), an API process lets a newcomer take the place of a
connection that has waited over a second for a request; with none such, or out of file descriptors, it stops
accepting for a while and goes on serving the connections it holds (web/gunicorn_worker.py)."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack

import httpx

from bench.procs import cpu_seconds
from tests.support import gunicorn_server, wait_until
from tests.web.test_slow_clients import OPENAPI, answer_of, reader_with_a_tiny_window, slow_connections

PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\n"
LIMITED = {"GUNICORN_CMD_ARGS": "--worker-connections 12", "REQUEST_RECEIVE_TIMEOUT": "10"}


def health_status(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code


def test_at_its_connection_limit_a_newcomer_takes_the_place_of_the_request_that_began_arriving_first(
        base_env, tmp_path):
    """Slowloris: clients that hold every connection by sending their heads a field at a time."""
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        first, *others = slow_connections(stack, server.port, 12, PARTIAL_HEAD)
        time.sleep(1.2)
        started = time.monotonic()
        assert health_status(server.port) == 200 and time.monotonic() - started < 1
        status, problem = answer_of(first)
        assert status == problem["status"] == 408
        others[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(others[0])[0] == 200


def test_at_its_connection_limit_an_idle_keep_alive_gives_way_before_any_request(base_env, tmp_path):
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        idle = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        arriving = slow_connections(stack, server.port, 11, PARTIAL_HEAD)
        time.sleep(1.2)
        assert health_status(server.port) == 200
        assert idle.recv(65536) == b""  # closed by the server, within its 5 s keep-alive
        arriving[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(arriving[0])[0] == 200


def test_connections_that_have_just_arrived_do_not_give_way(base_env, tmp_path):
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        held = slow_connections(stack, server.port, 12, PARTIAL_HEAD)
        newcomer = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        newcomer.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
        held[5].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(held[5])[0] == 200  # a held one was served, so the newcomer waited in the backlog meanwhile
        assert answer_of(newcomer)[0] == 200
        held[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(held[0])[0] == 200


def test_at_its_connection_limit_with_no_connection_waiting_for_a_request_the_api_waits_without_spinning(
        base_env, tmp_path):
    """Clients that do not read their answers hold connections that are not waiting for a request."""
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        readers = [reader_with_a_tiny_window(stack, server.port, OPENAPI * 30) for _ in range(12)]
        time.sleep(1.5)
        waiting: dict[str, object] = {}
        newcomer = threading.Thread(target=lambda: waiting.update(status=health_status(server.port),
                                                                  at=time.monotonic()), daemon=True)
        newcomer.start()
        worker = server.worker_pid()
        cpu_before = cpu_seconds([worker])
        time.sleep(1.5)
        assert not waiting and cpu_seconds([worker]) - cpu_before < 0.5  # waiting in the backlog, not spinning
        readers[0].close()
        left = time.monotonic()
        newcomer.join(5)
    assert waiting["status"] == 200 and waiting["at"] - left < 2


def test_out_of_file_descriptors_the_api_pauses_accepting_instead_of_restarting(base_env, tmp_path):
    with gunicorn_server(base_env, tmp_path, open_files=64) as server:
        worker = server.worker_pid()
        with ExitStack() as stack:
            slow_connections(stack, server.port, 80, b"")
            wait_until(lambda: b"cannot accept connections (Too many open files)"
                       in (tmp_path / "gunicorn.log").read_bytes(), 10, "the worker to run out of descriptors")
        assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200
        assert server.worker_pid() == worker
