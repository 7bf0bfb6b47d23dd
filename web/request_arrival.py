"""When a request has arrived whole, and how long its client may take to send it.

gunicorn's threaded worker gives a connection to a request thread as soon as its first bytes arrive, and the
thread then waits, blocking, for the rest. A client that sends its headers a byte at a time (slowloris) or its
body a byte at a time held a thread for as long as it liked: forty such connections left the API answering
nothing. The worker (web/gunicorn_worker.py) now gathers each request in its event loop and hands it to a
thread only once it is complete; this module decides when that is, and by when it must be.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_LIMIT = 64 * 1024  # request line and header fields; more is refused (431), as nginx does past 32 KB
BODY_MIN_BYTES_PER_SECOND = 10_000  # past the receive timeout, a body must keep arriving at this rate

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d+)[ \t]*(?=\r\n|$)")
# A body the worker does not wait for: chunked (its length is unknown) or one the client sends only once told
# to go on (gunicorn answers `100 Continue` in the request thread).
_HANDED_OVER_AT_HEAD = (b"\r\ntransfer-encoding", b"\r\nexpect")


@dataclass
class Arrival:
    """The bytes of one request so far, and the moment by which the rest must have come."""

    deadline: float
    data: bytearray
    size: int | None = None  # of the whole request, head and body, once the head has come and announced it


class HeadTooLarge(Exception):
    pass


def begin(now: float, timeout: float) -> Arrival:
    """A request starts: a new connection, or the next one on a kept-alive connection."""
    return Arrival(deadline=now + timeout, data=bytearray())


def is_complete(arrival: Arrival, now: float, *, timeout: float, body_limit: int) -> bool:
    """Whether `arrival` holds a whole request head and the body it announces. A body longer than `body_limit`
    is not waited for (the app refuses it, 413, without reading it); neither is a chunked one. The first time
    the head is seen whole, the deadline moves to leave time for the body at the minimum rate."""
    data = arrival.data
    if arrival.size is None:
        end = data.find(b"\r\n\r\n", 0, HEAD_LIMIT + 4)
        if end < 0:
            if len(data) >= HEAD_LIMIT + 4:
                raise HeadTooLarge()
            return False
        head = bytes(data[:end]).lower()
        if any(marker in head for marker in _HANDED_OVER_AT_HEAD):
            return True
        match = _CONTENT_LENGTH.search(head)
        length = int(match[1]) if match else 0
        if length > body_limit:
            return True
        arrival.size = end + 4 + length
        arrival.deadline = max(arrival.deadline, now + timeout + length / BODY_MIN_BYTES_PER_SECOND)
    return len(data) >= arrival.size
