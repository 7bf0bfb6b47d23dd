"""The shipped nginx (deploy/nginx) in front of stock gunicorn: what hostile and broken clients get.

Each attack ends in a prompt refusal or a closed connection, the API keeps answering /health within a second,
and the API behind never sees a malformed request: its access log shows no request nginx should have refused."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.procs import cpu_seconds, rss_mib
from tests.edge import Edge, nginx_edge, template_variables
from tests.support import REPO, accepts, free_port, gunicorn_server, job_body, stop_process_group, wait_until

CLIENT_TIMEOUT = 2  # NGINX_CLIENT_TIMEOUT as rendered here, so that attacks time out quickly
ANONYMOUS_LIMIT = 5
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Stack:
    edge: Edge
    api_pid: int
    access_log: Path
    edge_upstream_port: int

    def api_saw(self) -> list[str]:
        return self.access_log.read_text().splitlines()

    def health_seconds(self, source: str = "127.0.0.2") -> float:
        """How long GET /health takes through nginx, on a new connection from `source`; fails unless 200."""
        started = time.monotonic()
        with self.edge.connect(timeout=5, source=source) as connection:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status, _, _ = read_answer(connection)
        assert status == 200
        return time.monotonic() - started


@pytest.fixture(scope="module")
def stack(base_env, tmp_path_factory):
    directory = tmp_path_factory.mktemp("edge")
    env = {
        **base_env,
        "TRUSTED_PROXY_COUNT": "1",
        "ANONYMOUS_RATE_LIMIT": f"{ANONYMOUS_LIMIT}/minute",
        "RATE_LIMIT_KEY_PREFIX": f"{base_env['RATE_LIMIT_KEY_PREFIX']}:edge",
    }
    access_log = directory / "access.log"
    with (
        gunicorn_server(env, directory, access_log=access_log) as api,
        nginx_edge(api.port, NGINX_CLIENT_TIMEOUT=f"{CLIENT_TIMEOUT}s") as edge,
    ):
        yield Stack(edge, api.worker_pid(), access_log, api.port)


def read_answer(connection: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer, read until the server closes."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def exchange(stack: Stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with stack.edge.connect() as connection:
        connection.sendall(request)
        return read_answer(connection)


def closed_within(connection: ssl.SSLSocket, seconds: float) -> bytes:
    """What the server sent before closing, which it must do within `seconds`."""
    connection.settimeout(seconds)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return received


def open_many(stack: ExitStack, edge: Edge, count: int, first_bytes: bytes) -> list[ssl.SSLSocket]:
    connections = []
    for _ in range(count):
        connection = stack.enter_context(edge.connect())
        connection.sendall(first_bytes)
        connections.append(connection)
    return connections


def test_the_template_names_every_setting_it_is_rendered_with():
    assert template_variables() == {
        "API_UPSTREAM",
        "FLOWER_UPSTREAM",
        "NGINX_HTTP_PORT",
        "NGINX_HTTPS_PORT",
        "NGINX_FLOWER_PORT",
        "TLS_CERTIFICATE",
        "TLS_CERTIFICATE_KEY",
        "MAX_CONTENT_LENGTH",
        "NGINX_CLIENT_TIMEOUT",
        "NGINX_REQUESTS_PER_SECOND",
        "NGINX_REQUEST_BURST",
        "NGINX_CONNECTIONS_PER_ADDRESS",
    }


def test_a_job_goes_through_the_edge_over_tls(stack, account):
    with httpx.Client(base_url=stack.edge.url, verify=stack.edge.tls(), timeout=10) as client:
        submitted = client.post("/v1/jobs", json=job_body(points=20), headers=account.headers)
        assert submitted.status_code == 202, submitted.text
        polled = client.get(f"/v1/jobs/{submitted.json()['id']}", headers={**account.headers, "X-Request-ID": "r-1"})
        assert polled.status_code == 200 and polled.headers["x-request-id"] == "r-1"
        assert client.get("/health/ready").status_code == 200
        assert client.get("/metrics").status_code == 404  # scraped inside the network, never through the edge


def test_plain_http_is_sent_to_https(stack):
    answer = httpx.get(f"http://127.0.0.1:{stack.edge.http_port}/v1/jobs?x=1", headers={"Host": "api.example.com"})
    assert answer.status_code == 308 and answer.headers["location"] == "https://api.example.com/v1/jobs?x=1"


def test_a_client_cannot_choose_the_address_its_limits_count_against(stack):
    """nginx appends the address it saw to X-Forwarded-For; with TRUSTED_PROXY_COUNT=1 only that entry counts."""
    statuses = []
    with httpx.Client(base_url=stack.edge.url, verify=stack.edge.tls(), timeout=10) as client:
        for attempt in range(ANONYMOUS_LIMIT + 2):
            answer = client.get("/v1/openapi.json", headers={"X-Forwarded-For": f"198.51.100.{attempt}"})
            statuses.append(answer.status_code)
    assert statuses == [200] * ANONYMOUS_LIMIT + [429, 429]


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /refused?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /refused HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"NOT /refused AN HTTP REQUEST\r\n\r\n", 400),
        (b"GET /refused HTTP/1.1\r\nConnection: close\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET /refused HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\nExpect: 100-continue\r\n\r\n", 413),
    ],
    ids=["long request line", "large header field", "not HTTP", "no Host", "two Hosts", "body over the limit"],
)
def test_what_nginx_refuses_is_problem_json_and_never_reaches_the_api(stack, request_bytes, status):
    started = time.monotonic()
    answered, headers, body = exchange(stack, request_bytes)
    assert answered == status and time.monotonic() - started < CLIENT_TIMEOUT + 6  # nginx's lingering close: 5 s
    assert headers["content-type"] == "application/problem+json" and headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"] and b"aaaa" not in body
    assert not any("/refused" in line for line in stack.api_saw())


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 4\r\nTransfer-Encoding: chunked",
        b"Content-Length: 4\r\nContent-Length: 40",
        b"Transfer-Encoding: xchunked",
        b"Transfer-Encoding: chunked, identity",
        b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding : chunked",
        b"Transfer-Encoding:\tchunked\r\nContent-Length: 4",
    ],
    ids=["CL and TE", "two CL", "TE xchunked", "TE chunked, identity", "two TE", "TE with a space", "TE tab and CL"],
)
def test_an_ambiguous_body_framing_is_refused_and_nothing_is_smuggled(stack, framing):
    request = (
        b"POST /v1/webhooks/payments/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + framing
        + b"\r\n\r\n0\r\n\r\n"
        + SMUGGLED
    )
    status, headers, _ = exchange(stack, request)
    assert status in {400, 501} and headers["content-type"] == "application/problem+json"
    assert not any("/smuggled" in line or "/v1/webhooks" in line for line in stack.api_saw())


@pytest.mark.parametrize(
    "stalled",
    [b"1" + b";x" * 600, b"2\r\n{}\r\n0\r\nX-Trailer: " + b"a" * 70_000],
    ids=["chunk-size line of 1,200 bytes", "trailer of 70 KB"],
)
def test_sixty_clients_stalled_inside_a_chunked_body_leave_the_api_answering(stack, stalled):
    """Each sends a chunked POST whose chunk-size line or trailer never ends; none reaches the API, and each is
    let go once it stops sending."""
    head = b"POST /v1/webhooks/payments/generic HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with ExitStack() as stack_of_connections:
        connections = open_many(stack_of_connections, stack.edge, 60, head + stalled)
        for _ in range(3):
            time.sleep(0.3)
            assert stack.health_seconds() < 1
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda connection: closed_within(connection, CLIENT_TIMEOUT + 8), connections))
    assert all(answer == b"" or answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 408")) for answer in answers)
    assert not any("/v1/webhooks" in line for line in stack.api_saw())


def test_a_chunk_size_past_the_body_limit_is_refused_at_once(stack):
    """nginx reads no further than a size past its limit (400 for one past what it can count, 413 for the rest)."""
    head = b"POST /v1/webhooks/payments/generic HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with stack.edge.connect() as connection:
        connection.sendall(head + b"7fffffffffffffff\r\n" + b"a" * 65536)
        started = time.monotonic()
        answer = closed_within(connection, 5)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")) and time.monotonic() - started < 1
    with stack.edge.connect() as connection:
        connection.sendall(head + b"a00001\r\n" + b"a" * 65536)
        assert closed_within(connection, 5).startswith(b"HTTP/1.1 413")
    assert max(rss_mib(pid) for pid in stack.edge.worker_pids()) < 64


def test_ten_megabyte_bodies_on_health_cost_the_api_nothing(stack):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % TEN_MB
    before = cpu_seconds([stack.api_pid])

    def send() -> bytes:
        with stack.edge.connect() as connection:
            connection.sendall(head)
            try:
                connection.sendall(b"a" * TEN_MB)
            except OSError:  # refused before it was all sent
                pass
            return closed_within(connection, CLIENT_TIMEOUT + 8)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: send(), range(8)))
    assert all(answer.startswith(b"HTTP/1.1 413") for answer in answers)
    assert cpu_seconds([stack.api_pid]) - before < 0.5
    assert stack.health_seconds() < 1


def test_twenty_slow_bodies_of_ten_megabytes_hold_neither_the_api_nor_memory(stack, account):
    """Each sends all but the last byte of a 10 MB body and stops: nginx keeps the bodies on disk, the API never
    sees the requests, and the connections are let go when they stop sending."""
    head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: "
        + account.api_key.encode()
        + b"\r\nContent-Length: %d\r\n\r\n" % TEN_MB
    )

    def send_all_but_one_byte() -> ssl.SSLSocket:
        connection = stack.edge.connect(timeout=30)
        connection.sendall(head + b" " * (TEN_MB - 1))
        return connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        connections = list(pool.map(lambda _: send_all_but_one_byte(), range(20)))
    try:
        assert stack.health_seconds() < 1
        assert max(rss_mib(pid) for pid in stack.edge.worker_pids()) < 64
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda connection: closed_within(connection, CLIENT_TIMEOUT + 8), connections))
    finally:
        for connection in connections:
            connection.close()
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 408") for answer in answers)
    with httpx.Client(base_url=stack.edge.url, verify=stack.edge.tls(), timeout=10) as client:
        assert client.get("/v1/jobs", headers=account.headers).json()["items"] == []


def test_clients_that_never_read_their_answers_hold_no_api_thread(stack, account):
    """Answers are buffered by nginx, which lets a client go once it has taken nothing for the send timeout."""
    openapi = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-API-Key: " + account.api_key.encode() + b"\r\n\r\n"
    with ExitStack() as connections:
        readers = []
        for _ in range(2):
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            raw.settimeout(10)
            raw.connect(("127.0.0.1", stack.edge.https_port))
            reader = connections.enter_context(stack.edge.tls().wrap_socket(raw, server_hostname="localhost"))
            reader.sendall(openapi * 64)  # 5 MB of answers: more than the kernel's socket buffers hold
            readers.append(reader)
        for _ in range(3):
            time.sleep(0.3)
            assert stack.health_seconds() < 1
        time.sleep(CLIENT_TIMEOUT + 2)
        received = closed_within(readers[0], 5)
    assert received.count(b"HTTP/1.1 200") < 64  # let go before it had taken every answer


def test_slowloris_clients_leave_the_api_answering_and_are_let_go(stack):
    with ExitStack() as stack_of_connections:
        connections = open_many(stack_of_connections, stack.edge, 100, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for _ in range(2):
            time.sleep(0.5)
            for connection in connections:
                connection.sendall(b"X-Slow: 1\r\n")
            assert stack.health_seconds() < 1
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda connection: closed_within(connection, CLIENT_TIMEOUT + 5), connections))
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 408") for answer in answers)
    assert time.monotonic() - started < CLIENT_TIMEOUT + 5


def test_past_its_per_address_request_rate_a_client_gets_429_and_probes_do_not(stack, account):
    with (
        nginx_edge(stack.edge_upstream_port, NGINX_REQUESTS_PER_SECOND="1", NGINX_REQUEST_BURST="2") as edge,
        httpx.Client(base_url=edge.url, verify=edge.tls(), timeout=10) as client,
    ):
        statuses = [client.get("/v1/jobs", headers=account.headers).status_code for _ in range(6)]
        refused = client.get("/v1/jobs", headers=account.headers)
        probes = [client.get("/health").status_code for _ in range(6)]
    assert statuses[:3] == [200] * 3 and 429 in statuses[3:]
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["status"] == 429
    assert probes == [200] * 6


def test_flower_is_reached_through_the_edge_with_its_basic_auth(base_env, tmp_path):
    port = free_port()
    user, _, password = base_env["FLOWER_BASIC_AUTH"].partition(":")
    with open(tmp_path / "flower.log", "wb") as log:
        flower = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "workers",
                "flower",
                "--address=127.0.0.1",
                f"--port={port}",
                f"--basic-auth={user}:{password}",
            ],
            cwd=REPO,
            env={**os.environ, **base_env},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        wait_until(lambda: flower.poll() is not None or accepts(port), 60, "Flower to listen")
        with nginx_edge(free_port(), flower_port=port) as edge:
            url = f"https://localhost:{edge.flower_port}/api/workers"
            assert httpx.get(url, verify=edge.tls(), timeout=10).status_code == 401
            assert httpx.get(url, verify=edge.tls(), auth=(user, password), timeout=10).status_code == 200
            assert (
                httpx.get(
                    f"https://localhost:{edge.flower_port}/metrics",
                    verify=edge.tls(),
                    auth=(user, password),
                    timeout=10,
                ).status_code
                == 404
            )  # Prometheus scrapes it inside
    finally:
        stop_process_group(flower, grace=10)
