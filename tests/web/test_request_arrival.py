"""When the event loop hands a request to a thread (web/request_arrival.py): once it is whole, or at once when
gunicorn's parser or the app will refuse it without its body."""
from __future__ import annotations

import random
import re

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
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"Transfer-Encoding: chunked, gzip\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"Content-Length: %d\r\n" % (LIMIT + 1)])
def test_framing_gunicorn_or_the_app_refuses_goes_to_the_thread_with_the_head(fields):
    assert arrived(HEAD + fields + b"\r\n") == [True]


# Framings a request smuggling scanner tries: stacked and disguised codings, white space where none belongs,
# conflicting lengths.
FRAMINGS = [
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: CHUNKED", b"Transfer-Encoding: identity, chunked",
    b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: gzip,chunked", b"Transfer-Encoding: chunked\xa0",
    b"Transfer-Encoding: \x85chunked", b"Transfer-Encoding: \x0bchunked", b"Transfer-Encoding:chunked",
    b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: chunked, chunked", b"Transfer-Encoding: xchunked", b"Transfer-Encoding: chunked,",
    b"Transfer-Encoding: ", b"Transfer-Encoding : chunked", b"Transfer-Encoding: gzip\r\nContent-Length: 5",
    b"Transfer-Encoding: identity\r\nContent-Length: 5", b"Content-Length: 5\r\nTransfer-Encoding: chunked",
    b"Content-Length: 5", b"Content-Length:5", b"Content-Length: 05", b"Content-Length:\t5\t",
    b"Content-Length : 5", b"Content-Length: 5\r\nContent-Length: 5", b"Content-Length: 9\r\nContent-Length: 5",
    b"Content-Length: +5", b"Content-Length: 0x5", b"Content-Length: 5, 5", b"Content-Length: \xb2",
    b"Content-Length: 0", b"Expect: something-else\r\nContent-Length: 5",
    b"Expect: something-else\r\nTransfer-Encoding: chunked",
]


def gunicorn_reads_a_body(head: bytes) -> bool | None:
    """Whether gunicorn's own parser, given only the head, goes on to read a body; None if it refuses the head."""
    from gunicorn.config import Config
    from gunicorn.http.body import ChunkedReader, LengthReader
    from gunicorn.http.message import Request
    from gunicorn.http.unreader import IterUnreader

    try:
        reader = Request(Config(), IterUnreader([head]), ("127.0.0.1", 1)).body.reader
    except Exception:
        return None
    return isinstance(reader, ChunkedReader) or (isinstance(reader, LengthReader) and reader.length > 0)


@pytest.mark.parametrize("fields", FRAMINGS)
def test_a_head_gunicorn_reads_a_body_for_waits_for_it_and_one_it_refuses_goes_at_once(fields):
    """A request handed over before the body gunicorn reads for it has come would hold a thread while its client
    sends nothing; one handed over late waits out the receive timeout for a 400 it could have had at once."""
    head = HEAD + fields + b"\r\n\r\n"
    reads_a_body = gunicorn_reads_a_body(head)
    assert arrived(head) == [reads_a_body is not True]


def gunicorn_refuses(head: bytes) -> bool:
    return gunicorn_reads_a_body(head) is None


# Heads whose framing alone reads as a body to wait for, refused by gunicorn for something else.
REFUSED_BESIDE_A_FRAMING = [
    b"POST /v1/jobs HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",  # chunked needs HTTP/1.1
    HEAD + b"Bad Name: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    HEAD + b"X-Note: a\x00b\r\nContent-Length: 20\r\n\r\n",
    b"POST /v1/jobs HTTP/1.1 extra\r\nHost: x\r\nContent-Length: 20\r\n\r\n",
]


@pytest.mark.parametrize("head", REFUSED_BESIDE_A_FRAMING)
def test_a_head_gunicorn_refuses_goes_at_once_even_when_its_framing_promises_a_body(head):
    arrival = request_arrival.begin(0.0, timeout=20)
    arrival.data += head
    assert request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT, refuses_head=gunicorn_refuses)


def test_gunicorns_parser_is_asked_only_when_a_body_is_still_to_come():
    asked = []
    for request in [HEAD + b"\r\n", HEAD + b"Content-Length: 2\r\n\r\n{}", HEAD + b"Content-Length: 2\r\n\r\n"]:
        arrival = request_arrival.begin(0.0, timeout=20)
        arrival.data += request
        request_arrival.is_complete(arrival, 0.0, timeout=20, body_limit=LIMIT,
                                    refuses_head=lambda head: asked.append(head) or False)
    assert asked == [HEAD + b"Content-Length: 2\r\n\r\n"]


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


def test_no_mix_of_framing_fields_hands_a_thread_a_request_before_the_body_gunicorn_reads_for_it():
    """The fields above, several to a head in random order (a seeded sample of what a scanner combines): whenever
    gunicorn's parser would read a body within the app's limit, the head alone is not handed over."""
    fields = [field for framing in FRAMINGS for field in framing.split(b"\r\n")]
    sample = random.Random(2026)
    for _ in range(3000):
        head = HEAD + b"".join(sample.choice(fields) + b"\r\n" for _ in range(sample.randint(1, 3))) + b"\r\n"
        length = re.search(rb"(?i)\r\ncontent-length:[ \t]*(\d+)", head)
        refused_unread_by_the_app = length is not None and int(length[1]) > LIMIT
        if gunicorn_reads_a_body(head) and not refused_unread_by_the_app:
            assert arrived(head) == [False], head
