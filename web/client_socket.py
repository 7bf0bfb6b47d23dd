"""A client's socket as a request thread sees it: what the client is not ready to take is left for the event loop.

gunicorn's request thread writes the answer with a blocking `sendall`, so a client that stops reading (a slow
read attack: a tiny receive window, or many requests pipelined and never read) held the thread until it read
again, and a handful of them stopped the API. Here a send takes only what the kernel accepts at once; the rest
waits in the connection's `unsent` bytes, which the worker's event loop (web/gunicorn_worker.py) sends as the
client reads, while the thread goes on to other requests. What all connections of a process may hold so is
capped (`UnsentBudget`): past three quarters of it, the event loop lets go of the readers that have taken nothing
for longest, and past it a thread waits for its client again, for at most the send timeout.
"""
from __future__ import annotations

import socket
import threading
from typing import Iterable, TypeVar

T = TypeVar("T")


class UnsentBudget:
    """The bytes of answers waiting for slow clients, over all connections of one process."""

    def __init__(self, limit: int):
        self.limit, self.held, self._lock = limit, 0, threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self.held -= size

    @property
    def crowded(self) -> bool:
        return self.held > self.limit * 3 // 4

    def crowding(self, readers: Iterable[tuple[T, float, int]], idle_before: float) -> list[T]:
        """Past three quarters of the budget, the readers (each: who, when it last took anything, bytes it leaves
        unsent) that have taken nothing since before `idle_before`, longest first, enough to bring it back under.
        Let go, they make room before a request thread has to wait for one of them."""
        excess, chosen = self.held - self.limit * 3 // 4, []
        for reader, last_taken, unsent in sorted(readers, key=lambda reader: reader[1]):
            if excess <= 0 or last_taken > idle_before:
                break
            chosen.append(reader)
            excess -= unsent
        return chosen


class ClientSocket:
    """The accepted socket, with a `sendall` that never waits for the client unless the budget is spent."""

    def __init__(self, sock: socket.socket, budget: UnsentBudget, send_timeout: float):
        self._sock, self._budget, self._send_timeout = sock, budget, send_timeout
        self.unsent = bytearray()

    def sendall(self, data) -> None:
        """Send what the kernel takes now and keep the rest, in order, for `send_unsent`."""
        if not self.unsent:
            sent = self._send_now(data)
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        if self._budget.take(len(data)):
            self.unsent += data
            return
        # Over the budget: wait for this client, as gunicorn would, but not for ever (TimeoutError closes it).
        held, self.unsent = bytes(self.unsent), bytearray()
        self._budget.give_back(len(held))
        self._sock.settimeout(self._send_timeout)
        try:
            self._sock.sendall(held + bytes(data))
        finally:
            self._sock.settimeout(None)

    def send_unsent(self) -> int:
        """From the event loop: send what the kernel takes now; how many bytes went. OSError if the client left."""
        sent = self._send_now(self.unsent)
        del self.unsent[:sent]
        self._budget.give_back(sent)
        return sent

    def _send_now(self, data) -> int:
        try:
            return self._sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self) -> None:
        self._budget.give_back(len(self.unsent))
        self.unsent = bytearray()
        self._sock.close()

    def __getattr__(self, name):  # everything else is the socket's own: recv, fileno, setblocking, ...
        return getattr(self._sock, name)
