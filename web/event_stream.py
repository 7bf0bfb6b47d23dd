"""The body of a server-sent event stream, and the bound on how many one API process keeps open.

Each open stream holds a request thread of gunicorn's threaded worker for its whole life. So a process opens at
most EVENT_STREAMS_PER_PROCESS (below WEB_THREADS: half of it unless set), and each stream ends after
EVENT_STREAM_MAX_SECONDS; its client reconnects with Last-Event-ID and misses nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from smartcompute.db import driver_reason
from smartcompute.events import log as event_log
from smartcompute.events.hub import EventHub

log = logging.getLogger("smartcompute.events")
RECONNECT_MILLISECONDS = 1000  # the `retry:` a client waits before reconnecting once a stream ends
HELD_BACK_POLL_SECONDS = 0.2  # how soon to look again while an older transaction holds events back
_RESETS = {
    "expired": "events after the Last-Event-ID sent are no longer kept; fetch the jobs again",
    "unknown": "the Last-Event-ID sent is not one this API gave; fetch the jobs again",
}


class StreamsFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__("every event stream of this process is in use")
        self.retry_after = retry_after


class StreamSlots:
    """At most `limit` streams open at once in this process, each for at most `lifetime` seconds."""

    def __init__(self, limit: int, lifetime: float):
        self.limit, self.lifetime = limit, lifetime
        self._lock = threading.Lock()
        self._opened: dict[object, float] = {}

    def take(self) -> Slot:
        """A slot for one stream, or StreamsFull with the seconds until the oldest stream ends by itself."""
        now = time.monotonic()
        with self._lock:
            if len(self._opened) >= self.limit:
                oldest = min(self._opened.values(), default=now)
                raise StreamsFull(max(1, min(math.ceil(oldest + self.lifetime - now), math.ceil(self.lifetime))))
            slot = Slot(self)
            self._opened[slot] = now
            return slot

    def _release(self, slot: Slot) -> None:
        with self._lock:
            self._opened.pop(slot, None)


class Slot:
    def __init__(self, slots: StreamSlots):
        self._slots = slots

    def release(self) -> None:
        """Idempotent: the response's close and a failure before it may both call it."""
        self._slots._release(self)


@dataclass(frozen=True)
class StreamSettings:
    heartbeat: float
    lifetime: float


def opening(engine: Engine, last_event_id: str | None) -> tuple[event_log.Position, bytes]:
    """Where a stream starts and what it sends first: the reconnection delay, and the position (as an id without
    an event, so a client reconnecting before any event still resumes from here) or a `reset` event."""
    head = f"retry: {RECONNECT_MILLISECONDS}\n".encode()
    given = event_log.parse_position(last_event_id) if last_event_id else None
    with engine.connect() as connection:
        if given is not None and event_log.resumable(connection, given):
            return given, head + b"\n"
        position = event_log.start(connection)
    if last_event_id is None:
        return position, head + f"id: {position}\n\n".encode()
    reason = "unknown" if given is None else "expired"
    data = json.dumps({"reason": reason, "detail": _RESETS[reason]})
    return position, head + f"id: {position}\nevent: reset\ndata: {data}\n\n".encode()


def frames(
    hub: EventHub,
    engine: Engine,
    account_id: uuid.UUID,
    job_id: uuid.UUID | None,
    position: event_log.Position,
    first: bytes,
    settings: StreamSettings,
) -> Iterator[bytes]:
    """The stream's bytes: `first`, then each event after `position` as it commits, a comment every heartbeat,
    until the stream's lifetime is over, the process stops or the database cannot be read."""
    yield first
    deadline = time.monotonic() + settings.lifetime
    next_beat = time.monotonic() + settings.heartbeat
    with hub.subscribe(account_id) as woken:
        while True:
            woken.clear()
            try:
                with engine.connect() as connection:
                    page = event_log.read_after(connection, account_id, position, job_id=job_id)
            except DBAPIError as error:  # the client reconnects, with its Last-Event-ID, once it can
                log.warning("an event stream ended: the database cannot be read", extra={"error": driver_reason(error)})
                return
            if page.events:
                position = page.events[-1].position
                yield b"".join(_frame(event) for event in page.events)
            now = time.monotonic()
            if now >= deadline or hub.closing.is_set():
                return
            if page.full:
                continue
            if now >= next_beat:
                yield b": heartbeat\n\n"
                next_beat = now + settings.heartbeat
            wait = min(deadline, next_beat) - now
            woken.wait(min(wait, HELD_BACK_POLL_SECONDS) if page.held_back else wait)


def _frame(event: event_log.LoggedEvent) -> bytes:
    return f"id: {event.position}\nevent: {event.name}\ndata: {event.data_json}\n\n".encode()
