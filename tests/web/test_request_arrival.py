"""When the event loop hands a request to a thread (web/request_arrival.py): once it is whole, or at once when
gunicorn's parser or the app will refuse it without its body."""
from __future__ import annotations

import pytest

from web import request_arrival

HEAD = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
LIMIT = 1000


def arrived(*pieces: bytes) -> list[bool]:
    """Whether the request counts as whole after each piece."""
    arrival = request_arrival.begin(0.0, timeout=20)
    complete = []
    for piece in pieces:
        arrival.data += piece
        complete.append(request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT))
    return complete


def test_a_chunked_body_is_whole_after_its_last_chunk_and_the_blank_line():
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert arrived(head, b"3\r\nabc", b"\r\n2;name=value\r\nde\r\n", b"0\r\n", b"\r\n") == [
        False, False, False, False, True]


def test_trailer_fields_after_the_last_chunk_are_waited_for():
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert arrived(head + b"1\r\na\r\n0\r\nX-Checksum: 1\r\n", b"\r\n") == [False, True]


@pytest.mark.parametrize("body", [b"zz\r\n", b" 1\r\na\r\n", b"1\r\nab\r\n"], ids=["not hex", "space", "no CRLF"])
def test_a_malformed_chunk_goes_to_the_thread_at_once_for_gunicorns_400(body):
    assert arrived(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body) == [True]


def test_a_chunked_body_over_the_limit_goes_to_the_thread_for_the_apps_413():
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert arrived(head, b"%x\r\n%s\r\n" % (LIMIT + 1, b"a" * (LIMIT + 1))) == [False, True]


@pytest.mark.parametrize("fields", [
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"Expect: something-else\r\n",
    b"Content-Length: %d\r\n" % (LIMIT + 1)])
def test_framing_gunicorn_or_the_app_refuses_goes_to_the_thread_with_the_head(fields):
    assert arrived(HEAD + fields + b"\r\n") == [True]


def test_an_answered_expect_100_continue_is_taken_out_of_what_the_thread_parses():
    arrival = request_arrival.begin(0.0, timeout=20)
    arrival.data += HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    assert not request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT) and arrival.continue_due
    arrival.data += b"{}"
    assert request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT)
    assert request_arrival.request_bytes(arrival) == HEAD + b"Content-Length: 2\r\n\r\n{}"


def test_a_chunked_body_must_keep_arriving_at_the_minimum_rate_after_the_timeout():
    arrival = request_arrival.begin(0.0, timeout=20)
    arrival.data += HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (500, b"a" * 500)
    request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT)
    assert arrival.deadline == 20 + 500 / request_arrival.BODY_MIN_BYTES_PER_SECOND


def test_expect_100_continue_with_a_body_over_the_limit_is_taken_out_so_the_body_is_never_asked_for():
    arrival = request_arrival.begin(0.0, timeout=20)
    arrival.data += HEAD + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1)
    assert request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT) and not arrival.continue_due
    assert request_arrival.request_bytes(arrival) == HEAD + b"Content-Length: %d\r\n\r\n" % (LIMIT + 1)


@pytest.mark.parametrize("head", [b"GET /health HTTP/1.1\nHost: x\n", b"GET /health HTTP/1.1\r\nHost: x\n\n"])
def test_a_head_whose_lines_end_in_a_bare_line_feed_is_refused_without_waiting_for_a_crlf(head):
    with pytest.raises(request_arrival.BareLineFeed):
        arrived(head)


def test_a_carriage_return_whose_line_feed_has_not_come_yet_is_waited_for():
    assert arrived(b"GET /health HTTP/1.1\r", b"\nHost: x\r\n\r\n") == [False, True]
