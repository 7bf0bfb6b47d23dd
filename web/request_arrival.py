"""When a request has arrived whole, and how long its client may take to send it.

gunicorn's threaded worker gives a connection to a request thread as soon as its first bytes arrive, and the
thread then waits, blocking, for the rest. A client that sends its headers a byte at a time (slowloris) or its
body a byte at a time held a thread for as long as it liked: forty such connections left the API answering
nothing. The worker (web/gunicorn_worker.py) now gathers each request in its event loop and hands it to a
thread only once it is complete; this module decides when that is, and by when it must be.

Bodies with a Content-Length and chunked ones are gathered alike. A client that asks to be told to go on
(`Expect: 100-continue`) is told so by the event loop (`continue_due`), and the header is taken out of what the
thread sees (`request_bytes`), or gunicorn would say it a second time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

HEAD_LIMIT = 64 * 1024  # request line and header fields; more is refused (431), as nginx does past 32 KB
BODY_MIN_BYTES_PER_SECOND = 10_000  # past the receive timeout, a body must keep arriving at this rate
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Header fields as gunicorn's parser reads them in its default configuration: a name with white space before the
# colon is refused (400), so it is not one of these fields.
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:([^\r\n]*)")
_DECIMAL = re.compile(rb"[ \t]*(\d+)[ \t]*")
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding:([^\r\n]*)")
_EXPECT = re.compile(rb"\r\nexpect:([^\r\n]*)")
_CODINGS_BEFORE_CHUNKED = ("identity", "compress", "deflate", "gzip")
_HEX_DIGITS = re.compile(rb"[0-9a-fA-F]+")
_BARE_LINE_FEED = re.compile(rb"(?<!\r)\n")


@dataclass
class Arrival:
    """The bytes of one request so far, and the moment by which the rest must have come."""

    began: float
    deadline: float
    data: bytearray
    size: int | None = None  # of the whole request, head and body, once known (a chunked body: once it has come)
    head_end: int | None = None  # where the body starts, once the head has come
    chunks_at: int | None = None  # a chunked body: where its next chunk starts, and how much it has brought
    chunked_bytes: int = 0
    body_base: float = 0.0  # a chunked body must bring BODY_MIN_BYTES_PER_SECOND from this moment on
    continue_due: bool = False  # the client waits for `100 Continue` before it sends its body
    continue_sent: bool = False
    expect_line: tuple[int, int] | None = None  # the Expect header field's bytes, taken out before the thread


class HeadTooLarge(Exception):
    pass


class BareLineFeed(Exception):
    """A line of the head ends in LF alone. gunicorn refuses that (400), but only once it has read a CRLF, which
    such a client never sends: it would wait out the receive timeout and get 408 for a request refused anyway."""


def begin(now: float, timeout: float) -> Arrival:
    """A request starts: a new connection, or the next one on a kept-alive connection."""
    return Arrival(began=now, deadline=now + timeout, data=bytearray())


def is_complete(arrival: Arrival, now: float, *, timeout: float, body_limit: int,
                refuses_head: Callable[[bytes], bool] | None = None) -> bool:
    """Whether `arrival` holds a whole request head and its body. A body longer than `body_limit` is not waited
    for (the app refuses it, 413, without reading it), nor is one framed in a way gunicorn refuses (it answers
    400 or 501). The first time the head is seen whole, the deadline moves to leave time for the body at the
    minimum rate.

    `refuses_head` is gunicorn's own parser, asked only when the head has come and its body is still to come: a
    head it refuses for any reason (HTTP/1.0 with chunked, a malformed field beside a valid framing) is answered
    at once, instead of after the receive timeout for a body that would never be read. Asking it for every
    request would parse each head twice."""
    data = arrival.data
    if arrival.head_end is not None:
        return _body_complete(arrival, body_limit)
    end = data.find(b"\r\n\r\n", 0, HEAD_LIMIT + 4)
    if end < 0:
        if len(data) >= HEAD_LIMIT + 4:
            raise HeadTooLarge()
        if _BARE_LINE_FEED.search(data):
            raise BareLineFeed()
        return False
    arrival.head_end = end + 4
    if _read_head(arrival, bytes(data[:end]).lower(), now, timeout=timeout, body_limit=body_limit):
        return True
    return _body_complete(arrival, body_limit) or (
        refuses_head is not None and refuses_head(bytes(data[:arrival.head_end])))


def _body_complete(arrival: Arrival, body_limit: int) -> bool:
    if arrival.size is None:
        return _chunked_body_complete(arrival, body_limit)
    return len(arrival.data) >= arrival.size


def _read_head(arrival: Arrival, head: bytes, now: float, *, timeout: float, body_limit: int) -> bool:
    """Learn the body's framing from the head; True when the thread should take the request at once."""
    lengths, expect, chunked = _CONTENT_LENGTH.findall(head), _EXPECT.search(head), _chunked(head)
    if expect and expect[1].strip() == b"100-continue":  # gunicorn ignores other expectations, and reads the body
        arrival.expect_line = (expect.start() + 2, expect.end() + 2)  # with the CRLF before the next field
    length = _DECIMAL.fullmatch(lengths[0]) if len(lengths) == 1 else None
    if chunked is None or (chunked and length) or len(lengths) > 1:
        return True  # refused by gunicorn's parser before it reads any body
    if chunked:
        arrival.chunks_at, arrival.body_base = arrival.head_end, now + timeout
    else:
        size = int(length[1]) if length else 0
        if size > body_limit:
            return True
        arrival.size = arrival.head_end + size
        arrival.deadline = max(arrival.deadline, now + timeout + size / BODY_MIN_BYTES_PER_SECOND)
    arrival.continue_due = arrival.expect_line is not None and arrival.size != arrival.head_end
    return False


def _chunked(head: bytes) -> bool | None:
    """Whether gunicorn's parser reads the body as chunked, by the head's Transfer-Encoding fields; None if it
    refuses them. Its reading is followed exactly (each coding stripped of any white space and lowercased as text),
    since a request it reads a body for must never reach a thread before that body has come."""
    chunked = False
    for field in _TRANSFER_ENCODING.findall(head):
        for coding in field.decode("latin-1").split(","):
            coding = coding.strip().lower()
            if chunked or coding not in ("chunked", *_CODINGS_BEFORE_CHUNKED):
                return None  # a coding after chunked, or one gunicorn does not know (501)
            chunked = coding == "chunked"
    return chunked


def _chunked_body_complete(arrival: Arrival, body_limit: int) -> bool:
    """Walk the chunks that have come whole, as gunicorn's parser reads them; True at the body's end, and for
    what that parser refuses or the app will (a body over `body_limit`), so that they are answered at once."""
    data, position = arrival.data, arrival.chunks_at
    while True:
        line_end = data.find(b"\r\n", position, position + 1024)
        if line_end < 0:
            return len(data) - position >= 1024  # a chunk-size line that long is refused
        size_field, *extensions = bytes(data[position:line_end]).split(b";", 1)
        if extensions:
            size_field = size_field.rstrip(b" \t")
        if not _HEX_DIGITS.fullmatch(size_field):
            return True
        size = int(size_field, 16)
        if size == 0:
            return _trailer_complete(arrival, line_end + 2)
        if len(data) < line_end + 2 + size + 2:
            return False
        if data[line_end + 2 + size:line_end + 4 + size] != b"\r\n" or arrival.chunked_bytes + size > body_limit:
            return True
        position = arrival.chunks_at = line_end + 4 + size
        arrival.chunked_bytes += size
        arrival.deadline = max(arrival.deadline, arrival.body_base + arrival.chunked_bytes / BODY_MIN_BYTES_PER_SECOND)


def _trailer_complete(arrival: Arrival, start: int) -> bool:
    data = arrival.data
    if len(data) < start + 2:
        return False
    if data[start:start + 2] == b"\r\n":
        arrival.size = start + 2
        return True
    end = data.find(b"\r\n\r\n", start, start + HEAD_LIMIT)
    if end < 0:
        return len(data) - start >= HEAD_LIMIT  # trailer fields that long: let gunicorn refuse them
    arrival.size = end + 4
    return True


def request_bytes(arrival: Arrival) -> bytes:
    """What the request thread parses: the request as sent, without an `Expect: 100-continue` that the event
    loop has answered, that the body (come with the head) made moot, or whose body the app refuses unread (then
    the client is answered at once and never asked for the body)."""
    if arrival.expect_line is None:
        return bytes(arrival.data)
    start, end = arrival.expect_line
    return bytes(arrival.data[:start] + arrival.data[end:])
