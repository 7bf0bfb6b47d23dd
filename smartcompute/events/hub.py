"""One LISTEN connection per process, waking that process's event streams when their account has news.

A NOTIFY carries only the account's id: a woken stream reads the events from the table itself, by position
(smartcompute/events/log.py). So a notification that is lost (the listening connection dropped, or the stream was
between two reads) costs only latency: each stream also reads again at every heartbeat, and every stream is woken
whenever the listener connects again.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from smartcompute.db import DEAD_PEER_KEEPALIVES, driver_reason, make_engine
from smartcompute.events.log import CHANNEL

log = logging.getLogger("smartcompute.events")
RECONNECT_SECONDS = 2.0
_IDLE_CHECK_SECONDS = 5.0


class EventHub:
    """Streams subscribe by account; a thread started on first use listens and sets their wake-up flags."""

    def __init__(self, database_url: str):
        self._database_url = database_url
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[threading.Event]] = {}
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._pid = 0
        self.listening = threading.Event()  # set while the LISTEN connection is up
        self.closing = threading.Event()  # the process is stopping: streams end, their clients go elsewhere

    def close(self) -> None:
        """Tell every stream to end now (the process is stopping)."""
        self.closing.set()
        self._wake(None)

    @contextmanager
    def subscribe(self, account_id: uuid.UUID) -> Iterator[threading.Event]:
        """A flag set whenever the account may have new events; the subscriber clears it before reading."""
        key, wake = str(account_id), threading.Event()
        with self._lock:
            self._start_once()
            self._subscribers.setdefault(key, set()).add(wake)
        try:
            yield wake
        finally:
            with self._lock:
                waiting = self._subscribers.get(key, set())
                waiting.discard(wake)
                if not waiting:
                    self._subscribers.pop(key, None)

    def _start_once(self) -> None:
        # Started in the process that serves (a gunicorn worker), never inherited across a fork.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._engine = make_engine(self._database_url, pool_size=1, autocommit=True, connect_args=DEAD_PEER_KEEPALIVES)
        self._thread = threading.Thread(target=self._run, name="event-listener", daemon=True)
        self._thread.start()

    def _wake(self, accounts: set[str] | None) -> None:
        """Wake the streams of `accounts`; None wakes every stream."""
        with self._lock:
            flags = [
                flag
                for key, waiting in self._subscribers.items()
                if accounts is None or key in accounts
                for flag in waiting
            ]
        for flag in flags:
            flag.set()

    def _run(self) -> None:
        engine = self._engine
        assert engine is not None  # _start_once makes it before it starts this thread
        unreachable = False
        while not self.closing.is_set():
            try:
                raw = engine.raw_connection()
            except DBAPIError as error:
                if not unreachable:
                    log.warning(
                        "cannot reach the database to listen for events; streams read at each heartbeat until it can",
                        extra={"error": driver_reason(error)},
                    )
                unreachable = True
                self.closing.wait(RECONNECT_SECONDS)
                continue
            unreachable = False
            try:
                self._listen(raw.driver_connection)
            except Exception as error:  # the connection failed: listen again on a new one, after a pause
                log.warning(
                    "the event listener's connection failed; listening again",
                    extra={"error": (str(error).strip().splitlines() or [""])[0]},
                )
                raw.invalidate()
                self.closing.wait(RECONNECT_SECONDS)
            finally:
                self.listening.clear()
                raw.close()

    def _listen(self, connection) -> None:
        connection.autocommit = True  # a notification arrives between transactions, so hold none open
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        self.listening.set()
        self._wake(None)  # anything written while nobody listened is read now
        while not self.closing.is_set():
            if not select.select([connection], [], [], _IDLE_CHECK_SECONDS)[0]:
                with connection.cursor() as cursor:  # quiet for a while: make sure the connection still answers
                    cursor.execute("SELECT 1")
            connection.poll()
            accounts = {notice.payload for notice in connection.notifies}
            connection.notifies.clear()
            if accounts:
                self._wake(accounts)
