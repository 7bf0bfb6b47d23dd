"""The agent's on-disk spool: batches wait here, oldest first, until the API has taken them.

SQLite (from the standard library) holds them: each change is an atomic, durable transaction, so a crash or a
power cut leaves every batch either whole or absent, with no hand-written fsync-and-rename. The spool is bounded
in bytes; a batch that does not fit pushes out the oldest, and every batch lost that way is counted.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from smartcompute import jsoncodec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    job_type TEXT NOT NULL,
    body BLOB NOT NULL,
    spooled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
DROPPED, REFUSED = "dropped_when_full", "refused_by_the_api"


@dataclass(frozen=True)
class SpooledBatch:
    seq: int
    idempotency_key: str
    job_type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class SpoolState:
    batches: int
    bytes: int
    dropped_when_full: int
    refused_by_the_api: int


class Spool:
    """Thread-safe: the agent's sampling loop adds while its sender takes."""

    def __init__(self, directory: str | Path, max_bytes: int):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / "spool.sqlite3"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(self, idempotency_key: str, job_type: str, data: dict[str, Any]) -> int:
        """Keep a batch (once per key); returns how many older batches were dropped to make room. A batch larger
        than the whole spool is itself dropped (and counted)."""
        body = zlib.compress(jsoncodec.dumps_bytes(data), 6)
        with self._lock, self._transaction():
            if len(body) > self.max_bytes:
                self._count(DROPPED, 1)
                return 1
            self._db.execute(
                "INSERT OR IGNORE INTO batches (idempotency_key, job_type, body, spooled_at) VALUES (?, ?, ?, ?)",
                (idempotency_key, job_type, body, time.time()),
            )
            dropped = 0
            while self._size() > self.max_bytes:
                self._db.execute("DELETE FROM batches WHERE seq = (SELECT min(seq) FROM batches)")
                dropped += 1
            self._count(DROPPED, dropped)
            return dropped

    def oldest(self) -> SpooledBatch | None:
        with self._lock:
            row = self._db.execute(
                "SELECT seq, idempotency_key, job_type, body FROM batches ORDER BY seq LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return SpooledBatch(row[0], row[1], row[2], jsoncodec.loads(zlib.decompress(row[3])))

    def remove(self, seq: int, *, refused: bool = False) -> None:
        """The batch was taken by the API, or refused for good (`refused`, counted)."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
            if refused:
                self._count(REFUSED, 1)

    def state(self) -> SpoolState:
        with self._lock:
            batches, size = self._db.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM batches").fetchone()
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        return SpoolState(batches, size, counters.get(DROPPED, 0), counters.get(REFUSED, 0))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _size(self) -> int:
        return self._db.execute("SELECT coalesce(sum(length(body)), 0) FROM batches").fetchone()[0]

    def _count(self, name: str, amount: int) -> None:
        if amount:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, amount),
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on an exception: all of a change lands, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        with self._db:
            yield
