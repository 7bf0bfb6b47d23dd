"""At its connection limit (gunicorn's `worker_connections`), an API process lets a newcomer take the place of a
connection that has kept it waiting on its client for over a second; with none such, or out of file descriptors, it
stops accepting for a while and goes on serving the connections it holds. Past three quarters of the bytes it may
hold for slow readers, it lets go of those idle longest (web/gunicorn_worker.py)."""
from __future__ import annotations

import re
import socket
import time
from contextlib import ExitStack

import httpx

from bench.procs import cpu_seconds
from tests.support import gunicorn_server, wait_until
from tests.web.test_slow_clients import OPENAPI, answer_of, answers_of, reader_with_a_tiny_window, slow_connections

PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\n"
SHIFTING_ANSWER = b"GET /v1/" + b"x" * 3300 + b" HTTP/1.1\r\nHost: x\r\n\r\n"  # a 404 naming its 3.3 KB path
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
        assert answers_of(idle, 1)[0][0] == 200
        arriving = slow_connections(stack, server.port, 11, PARTIAL_HEAD)
        time.sleep(1.2)
        assert health_status(server.port) == 200
        idle.settimeout(1)
        assert idle.recv(65536) == b""  # closed by the server to make room, long before its 5 s keep-alive ran out
        arriving[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(arriving[0])[0] == 200


def test_at_its_connection_limit_a_client_still_sending_a_refused_body_gives_way_first(base_env, account, tmp_path):
    """Its 413 is out; the connection stays open only so that the client is not reset before reading it."""
    env = {**base_env, **LIMITED, "MAX_CONTENT_LENGTH": "1000"}
    with gunicorn_server(env, tmp_path) as server, ExitStack() as stack:
        idle = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answers_of(idle, 1)[0][0] == 200
        head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nX-API-Key: " + account.api_key.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        senders = slow_connections(stack, server.port, 11, head + b"a" * 100)
        time.sleep(1.2)
        assert health_status(server.port) == 200
        assert answer_of(senders[0])[0] == 413  # its answer, then the end of the stream
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer_of(idle)[0] == 200  # the idle keep-alive was kept


def test_connections_that_have_just_arrived_do_not_give_way_and_a_newcomer_waits_without_spinning(
        base_env, tmp_path):
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        held = slow_connections(stack, server.port, 12, PARTIAL_HEAD)
        worker = server.worker_pid()
        cpu_before = cpu_seconds([worker])
        newcomer = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        newcomer.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.4)
        assert cpu_seconds([worker]) - cpu_before < 0.2  # waiting in the backlog, not spinning
        held[5].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(held[5])[0] == 200
        assert answer_of(newcomer)[0] == 200  # taken once held[5] left
        held[0].sendall(b"Connection: close\r\n\r\n")
        assert answer_of(held[0])[0] == 200


def test_at_its_connection_limit_a_client_that_takes_none_of_its_answer_gives_way(base_env, tmp_path):
    """Slow read attacks (slowhttptest -X): clients that ask for large answers and do not read them."""
    with gunicorn_server({**base_env, **LIMITED}, tmp_path) as server, ExitStack() as stack:
        readers = [reader_with_a_tiny_window(stack, server.port, OPENAPI * 30) for _ in range(12)]
        time.sleep(1.5)
        started = time.monotonic()
        assert health_status(server.port) == 200 and time.monotonic() - started < 1
        let_go = sum(gone(reader) for reader in readers)
    assert let_go == 1


def test_past_three_quarters_of_the_answer_budget_the_readers_that_took_nothing_for_longest_are_let_go(
        base_env, tmp_path):
    """Slow readers can fill the answers a process holds for them before they fill its connections; let go early,
    they never make a request thread wait for one of them."""
    env = {**base_env, "UNSENT_ANSWERS_LIMIT": str(1024 * 1024), "REQUEST_RECEIVE_TIMEOUT": "60"}
    with gunicorn_server(env, tmp_path) as server, ExitStack() as stack:
        for index in range(30):  # past what the kernel takes, each leaves part of a 100 KB answer with the process
            # Each reader's answers are shifted by its own number of 3.5 KB answers first, so what they leave unsent
            # spreads over an answer's size: the same answers for every reader left each the same remainder, which
            # could add up to just over three quarters of the budget or to just under, by the document's size alone.
            reader_with_a_tiny_window(stack, server.port, SHIFTING_ANSWER * index + OPENAPI * 30)
            time.sleep(0.1)
        started = time.monotonic()
        assert health_status(server.port) == 200 and time.monotonic() - started < 1
        log = (tmp_path / "gunicorn.log").read_text()
    assert re.search(r"letting go of \d+ clients that took none of their answers for 1.0 s", log)
    assert "at their limit" not in log  # no request thread waited


def gone(reader: socket.socket) -> bool:
    """Whether the server has closed a reader's connection: what it still had on the way is read first."""
    reader.settimeout(0.5)
    try:
        while reader.recv(65536):
            pass
    except ConnectionResetError:  # closed with its requests unread
        return True
    except TimeoutError:  # still being answered
        return False
    return True


def test_out_of_file_descriptors_the_api_pauses_accepting_instead_of_restarting(base_env, tmp_path):
    with gunicorn_server(base_env, tmp_path, open_files=64) as server:
        worker = server.worker_pid()
        with ExitStack() as stack:
            slow_connections(stack, server.port, 80, b"")
            wait_until(lambda: b"cannot accept connections (Too many open files)"
                       in (tmp_path / "gunicorn.log").read_bytes(), 10, "the worker to run out of descriptors")
        assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200
        assert server.worker_pid() == worker
