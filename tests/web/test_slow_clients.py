"""Clients that send their requests slowly, on purpose (slowloris, slow bodies) or not, hold no request thread:
the API run as the Procfile runs it gathers each request whole before a thread sees it, and answers 408 to
one that does not arrive within REQUEST_RECEIVE_TIMEOUT (web/gunicorn_worker.py, web/request_arrival.py).
Clients that send requests without waiting for the answers (HTTP/1.1 pipelining) get every answer, in order,
and clients that read their answers slowly, or not at all (slow read attacks), hold no thread either."""
from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import httpx
import pytest

from tests.support import gunicorn_api, job_body
from tests.web.test_unparsable_requests import _exchange

RECEIVE_TIMEOUT = 2


@pytest.fixture(scope="module")
def api_port(base_env, tmp_path_factory):
    """One process with two request threads: a handful of slow clients would be enough to stop it."""
    env = {**base_env, "REQUEST_RECEIVE_TIMEOUT": str(RECEIVE_TIMEOUT)}
    with gunicorn_api(env, tmp_path_factory.mktemp("gunicorn")) as port:
        yield port


FRAMINGS = ("content-length", "chunked", "100-continue")


def job_request(api_key: str, body: bytes, *extra_headers: bytes, keep_alive: bool = False,
                framing: str = "content-length") -> tuple[bytes, bytes]:
    """A job's POST as raw bytes: its head, and its body as sent (`framing` chunked: in two chunks)."""
    if framing == "chunked":
        middle = len(body) // 2
        extra_headers += (b"Transfer-Encoding: chunked",)
        body = b"%x\r\n%s\r\n%x;part=2\r\n%s\r\n0\r\n\r\n" % (middle, body[:middle], len(body) - middle, body[middle:])
    else:
        extra_headers += (b"Content-Length: %d" % len(body),)
    if framing == "100-continue":
        extra_headers += (b"Expect: 100-continue",)
    head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + (b"" if keep_alive else b"Connection: close\r\n")
            + b"Content-Type: application/json\r\nX-API-Key: " + api_key.encode() + b"\r\n"
            + b"".join(header + b"\r\n" for header in extra_headers) + b"\r\n")
    return head, body


def slow_connections(stack: ExitStack, port: int, count: int, first_bytes: bytes) -> list[socket.socket]:
    connections = []
    for _ in range(count):
        connection = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        connection.sendall(first_bytes)
        connections.append(connection)
    return connections


def answer_of(connection: socket.socket) -> tuple[int, dict]:
    """The final answer, read until the server closes: its status and JSON body (a `100 Continue` skipped)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    received = received.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def answers_of(connection: socket.socket, count: int, *, read_size: int = 65536,
               pause: float = 0) -> list[tuple[int, dict]]:
    """The first `count` answers on a kept-alive connection: the status and JSON body of each, in order; read
    `read_size` bytes at a time, `pause` seconds apart."""
    received, answers = b"", []
    while len(answers) < count:
        head, separator, rest = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1]) if separator else 0
        if not separator or len(rest) < length:
            time.sleep(pause)
            chunk = connection.recv(read_size)
            assert chunk, f"the server closed the connection after {len(answers)} answers"
            received += chunk
            continue
        answers.append((int(head.split()[1]), json.loads(rest[:length])))
        received = rest[length:]
    return answers


def test_clients_sending_their_headers_a_field_at_a_time_do_not_stop_the_api(api_port):
    with ExitStack() as stack:
        connections = slow_connections(stack, api_port, 12, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for _ in range(2):
            time.sleep(0.5)
            for connection in connections:
                connection.sendall(b"X-Slow: 1\r\n")
            assert httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200


@pytest.mark.parametrize("framing", FRAMINGS)
def test_clients_sending_their_bodies_a_byte_at_a_time_do_not_stop_the_api(api_port, account, framing):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), framing=framing)
    with ExitStack() as stack:
        connections = slow_connections(stack, api_port, 12, head + body[:1])
        for sent in range(1, 3):
            time.sleep(0.5)
            for connection in connections:
                connection.sendall(body[sent:sent + 1])
            assert httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200


@pytest.mark.parametrize("framing", [b"Transfer-Encoding: identity, chunked",
                                     b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
                                     b"Expect: something-else\r\nContent-Length: 20"])
def test_clients_that_never_send_a_body_in_an_unusual_framing_do_not_stop_the_api(api_port, account, framing):
    """gunicorn reads these bodies (stacked codings as chunked; an expectation it does not know it ignores), so
    they are gathered like any other: handed to a thread with the head alone, they held it for as long as their
    clients stayed."""
    head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: "
            + account.api_key.encode() + b"\r\n" + framing + b"\r\n\r\n")
    with ExitStack() as stack:
        slow_connections(stack, api_port, 4, head)
        time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200


def test_headers_that_do_not_arrive_in_time_are_answered_408(api_port):
    with ExitStack() as stack:
        [connection] = slow_connections(stack, api_port, 1, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        status, problem = answer_of(connection)
    assert status == problem["status"] == 408 and problem["detail"] == "the request did not arrive in time"


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_that_stops_arriving_is_answered_408_and_nothing_is_stored(api_port, account, framing):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), framing=framing)
    started = time.monotonic()
    with ExitStack() as stack:
        [connection] = slow_connections(stack, api_port, 1, head + body[:-1])
        status, _ = answer_of(connection)
    assert status == 408 and RECEIVE_TIMEOUT <= time.monotonic() - started < RECEIVE_TIMEOUT + 3
    listed = httpx.get(f"http://127.0.0.1:{api_port}/v1/jobs", headers=account.headers, timeout=5).json()
    assert listed["items"] == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_request_sent_in_pieces_within_the_timeout_is_served(api_port, account, framing):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), framing=framing)
    pieces = [head[:20], head[20:], body[:3], body[3:100], body[100:-3], body[-3:]]
    with socket.create_connection(("127.0.0.1", api_port), timeout=10) as connection:
        for piece in pieces:
            connection.sendall(piece)
            time.sleep(0.2)
        status, job = answer_of(connection)
    assert status == 202 and job["status"] == "queued"


def test_a_client_that_waits_for_100_continue_gets_it_once_and_is_served(api_port, account):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), framing="100-continue")
    with socket.create_connection(("127.0.0.1", api_port), timeout=10) as connection:
        connection.sendall(head)
        assert connection.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(body)
        status, job = answer_of(connection)  # the next answer is the final one
    assert status == 202 and job["status"] == "queued"


@pytest.mark.parametrize("head", [b"POST /v1/jobs HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                                  b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nX Note: 1\r\nContent-Length: 9\r\n\r\nab"],
                         ids=["HTTP/1.0 chunked", "bad field name"])
def test_a_refused_head_whose_body_has_not_come_is_answered_400_at_once(api_port, head):
    """A request smuggling scanner times the answer to such heads: a 408 after the receive timeout would read as a
    server that waited for a body it meant to read."""
    started = time.monotonic()
    status, _, body = _exchange(api_port, head)
    assert status == json.loads(body)["status"] == 400 and time.monotonic() - started < RECEIVE_TIMEOUT / 2


def test_a_request_head_over_64_kb_is_431(api_port):
    fields = b"".join(b"X-Filler-%d: %s\r\n" % (index, b"a" * 1000) for index in range(70))
    status, headers, body = _exchange(api_port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status == json.loads(body)["status"] == 431 and headers["connection"] == "close"


def test_requests_sent_without_waiting_for_the_answers_are_all_answered_in_order(api_port, account):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), keep_alive=True)
    listing = b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-API-Key: " + account.api_key.encode() + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", api_port), timeout=3) as connection:
        connection.sendall(head + body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + listing)
        (posted, job), (health, _), (listed, jobs) = answers_of(connection, 3)
    assert (posted, health, listed) == (202, 200, 200)
    assert [item["id"] for item in jobs["items"]] == [job["id"]]


def test_a_request_sent_early_whose_body_comes_later_is_answered(api_port, account):
    head, body = job_request(account.api_key, json.dumps(job_body(points=20)).encode(), keep_alive=True)
    with socket.create_connection(("127.0.0.1", api_port), timeout=5) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + head + body[:10])
        time.sleep(0.3)
        connection.sendall(body[10:])
        (health, _), (posted, job) = answers_of(connection, 2)
    assert (health, posted, job["status"]) == (200, 202, "queued")


def reader_with_a_tiny_window(stack: ExitStack, port: int, requests: bytes) -> socket.socket:
    """A client whose receive buffer takes a kilobyte: what it does not read stays with the server."""
    connection = stack.enter_context(socket.socket())
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    connection.settimeout(10)
    connection.connect(("127.0.0.1", port))
    connection.sendall(requests)
    return connection


HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
OPENAPI = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"  # 80 KB: more than a socket's buffers take


def test_clients_that_do_not_read_their_answers_do_not_stop_the_api(api_port):
    with ExitStack() as stack:
        for _ in range(6):
            reader_with_a_tiny_window(stack, api_port, OPENAPI * 30)
        for _ in range(3):
            time.sleep(0.3)
            assert httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200


def test_a_client_reading_slowly_gets_every_answer_in_order(api_port):
    with ExitStack() as stack:
        connection = reader_with_a_tiny_window(stack, api_port, OPENAPI * 4 + HEALTH)
        answers = answers_of(connection, 5, read_size=16384, pause=0.01)
    assert [status for status, _ in answers] == [200] * 5
    assert [body.get("openapi") for _, body in answers] == ["3.1.0"] * 4 + [None] and answers[4][1]["status"] == "ok"


def test_a_client_that_takes_none_of_its_answers_is_let_go_after_the_timeout(api_port):
    with ExitStack() as stack:
        connection = reader_with_a_tiny_window(stack, api_port, OPENAPI * 30)
        time.sleep(RECEIVE_TIMEOUT + 1.5)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert 0 < received.count(b"HTTP/1.1 200 OK") < 30


OVER_THE_LIMIT = b'{"type": "anomaly_detection", "data": "' + b"a" * (10 * 1024 * 1024) + b'"}'


def test_a_client_that_sends_a_body_over_the_limit_before_reading_gets_the_413(api_port, account):
    """urllib sends the whole body before it reads: the API answers 413 at once, and reads and drops the rest
    before closing, so that the client is not reset before it can read the answer."""
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}/v1/jobs", data=OVER_THE_LIMIT, headers={
        "Content-Type": "application/json", "X-API-Key": account.api_key})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == json.loads(refused.value.read())["status"] == 413


def test_a_client_that_waits_for_100_continue_with_a_body_over_the_limit_gets_413_instead(api_port, account):
    head, _ = job_request(account.api_key, OVER_THE_LIMIT, framing="100-continue")
    with socket.create_connection(("127.0.0.1", api_port), timeout=10) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 413 ")  # no 100 Continue first: the body is never asked for
