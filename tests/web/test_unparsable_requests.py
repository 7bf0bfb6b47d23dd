"""Requests gunicorn cannot parse get problem+json as well, never an HTML page (web/gunicorn_worker.py).

These never reach Flask, so they are sent over a raw socket to the API run as the Procfile runs it."""
from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.support import gunicorn_api


@pytest.fixture(scope="module")
def api_port(base_env, tmp_path_factory):
    with gunicorn_api(base_env, tmp_path_factory.mktemp("gunicorn")) as port:
        yield port


def _serves(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends raw bytes; returns the status, headers and body of the answer, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def _problem(port: int, request: bytes) -> tuple[int, dict]:
    status, headers, body = _exchange(port, request)
    assert headers["content-type"] == "application/problem+json" and headers["x-frame-options"] == "DENY"
    assert headers["connection"] == "close" and int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return status, problem


def test_a_request_line_over_the_limit_is_414(api_port):
    status, problem = _problem(api_port, b"GET /v1/jobs?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and problem["type"] == "/problems/uri-too-long"


def test_a_header_field_over_the_limit_is_431(api_port):
    status, problem = _problem(api_port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    assert status == 431 and problem["type"] == "/problems/request-header-fields-too-large"


def test_a_malformed_header_name_is_400(api_port):
    status, problem = _problem(api_port, b"GET /health HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
    assert status == 400 and problem["detail"] == "the request has a malformed header field"


def test_a_request_line_that_is_not_http_is_400(api_port):
    status, problem = _problem(api_port, b"NOT AN HTTP REQUEST\r\n\r\n")
    assert status == 400 and problem["type"] == "/problems/bad-request"


def test_a_request_whose_lines_end_in_a_bare_line_feed_is_400_at_once(api_port):
    """As netcat and some old clients send them; gunicorn's parser would first wait for a CRLF that never comes."""
    started = time.monotonic()
    status, problem = _problem(api_port, b"GET /health HTTP/1.1\nHost: x\n\n")
    assert status == 400 and problem["detail"] == "the request's lines must end in CRLF"
    assert time.monotonic() - started < 5  # not the 408 of REQUEST_RECEIVE_TIMEOUT (20 s)


@pytest.mark.parametrize("host_fields", [b"", b"Host: a\r\nHost: b\r\n", b"Host: a b\r\n", b"Host: a/b\r\n"])
def test_an_http_1_1_request_without_exactly_one_valid_host_is_400(api_port, host_fields):
    """RFC 9112 requires it: with none, or two, the parts of a deployment may each read a different host."""
    status, problem = _problem(api_port, b"GET /health HTTP/1.1\r\n" + host_fields + b"Connection: close\r\n\r\n")
    assert status == 400
    assert problem["detail"] == "an HTTP/1.1 request must name its host in one valid Host header field"


@pytest.mark.parametrize("host", ["api.example.com", "localhost:8000", "[::1]:8000", "127.0.0.1", ""])
def test_any_valid_host_is_served(client, host):
    assert client.get("/health", headers={"Host": host}).status_code == 200


def test_an_http_1_0_request_needs_no_host(api_port):
    status, _, _ = _exchange(api_port, b"GET /health HTTP/1.0\r\n\r\n")
    assert status == 200


def test_an_unknown_transfer_coding_is_501(api_port):
    request = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n0\r\n\r\n"
    status, problem = _problem(api_port, request)
    assert status == 501 and problem["type"] == "/problems/not-implemented"


def test_the_answer_never_echoes_what_the_client_sent(api_port):
    _, _, body = _exchange(api_port, b"GET /<script>alert(1)</script> HTTP/9.9\r\nHost: x\r\n\r\n")
    assert b"<script>" not in body and b"<html>" not in body


def test_the_server_serves_again_after_each_of_them(api_port):
    _problem(api_port, b"NOT AN HTTP REQUEST\r\n\r\n")
    assert _serves(api_port)


def test_a_chunked_body_with_a_malformed_chunk_size_is_400(api_port, account):
    # The headers parse, so this one reaches the app, which meets the error reading the body.
    request = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
               b"X-API-Key: " + account.api_key.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"zz\r\n{}\r\n0\r\n\r\n")
    status, headers, body = _exchange(api_port, request)
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/bad-request"
