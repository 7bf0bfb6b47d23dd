"""The schedule of upkeep rounds, sent by one scheduler at a time, and each round run once at a time.

`celery -A workers beat` and `celery -A workers.payment_worker beat` (the Procfile's `scheduler` and
`scheduler-payments`) run Celery beat with the `Scheduler` below, apart from the workers: a scheduler embedded in
a worker (`--beat`) died with the worker's child process that ran it while the worker lived on, and every worker
replica ran a schedule of its own. Any number of schedulers may run; the one holding the schedule's PostgreSQL
advisory lock sends it, the others stand by and take over when its connection ends. Each round also takes a lock
of its own (`one_round_at_a_time`), so a handover, or a worker of an older release still running its embedded
beat, costs a skipped round, never two rounds at once. PostgreSQL holds both locks because it already holds the
rows a round reads and marks; no library puts Celery beat's leadership there, hence this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from celery import beat
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from smartcompute import maintenance
from smartcompute.db import DEAD_PEER_KEEPALIVES, driver_reason, make_engine
from workers.celery_app import app_settings
from workers.runtime import round_lock_key, schedule_lock_key

log = logging.getLogger("smartcompute.scheduler")
# How often a standing-by scheduler tries the lock: the longest the schedule pauses when its holder dies.
STANDBY_SECONDS = 5.0
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_ALIVE = text("SELECT 1")
# The holder's connection notices a network that stopped answering within about 10 s, on both ends: the client
# fails its next look, and the server ends the session, which frees the lock for a scheduler that can reach it.
_SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


class ScheduleLock:
    """The advisory lock a scheduler holds, on a connection of its own, while it sends a schedule. PostgreSQL
    frees it the moment that connection ends: the process exits or is killed, the server restarts, or the
    network between them fails (see the keepalives above)."""

    def __init__(self, database_url: str, key: int):
        self._engine = make_engine(
            database_url,
            pool_size=1,
            autocommit=True,
            session_settings=_SERVER_KEEPALIVES,
            connect_args=DEAD_PEER_KEEPALIVES,
        )
        self._key = key
        self._connection: Connection | None = None
        self._standing_by = False
        self._unreachable = False  # said once per outage, not at every look

    def held(self) -> bool:
        """Whether this process holds the lock now: the connection holding it still answers, or the lock was
        free and is taken."""
        if self._connection is not None:
            try:
                self._connection.execute(_ALIVE)
                return True
            except DBAPIError as error:
                log.warning(
                    "the schedule's lock went with its database connection; taking it again",
                    extra={"error": driver_reason(error)},
                )
                self._drop()
        return self._take()

    def _take(self) -> bool:
        connection = None
        try:
            connection = self._engine.connect()
            taken = connection.execute(_TRY_LOCK, {"key": self._key}).scalar()
        except DBAPIError as error:
            if not self._unreachable:
                log.warning(
                    "cannot reach the database to take the schedule's lock; nothing is sent until it can",
                    extra={"error": driver_reason(error)},
                )
            self._unreachable = True
            if connection is not None:
                connection.invalidate()
            return False
        self._unreachable = False
        if not taken:
            connection.close()
            if not self._standing_by:
                log.info("another scheduler sends this schedule; standing by to take over")
            self._standing_by = True
            return False
        self._connection, self._standing_by = connection, False
        log.info("this scheduler holds the schedule's lock and sends the schedule")
        return True

    def _drop(self) -> None:
        try:
            self._connection.invalidate()  # closes the socket: a lock still held on it is freed
        finally:
            self._connection = None

    def release(self) -> None:
        if self._connection is not None:
            self._drop()
        self._engine.dispose()


class Scheduler(beat.Scheduler):
    """Celery beat's in-memory scheduler (`beat_scheduler`), sending only while it holds the schedule's lock.

    No schedule file: every entry runs each REPUBLISH_INTERVAL, so there is nothing worth keeping across
    restarts, and a scheduler that takes over finds every entry overdue and sends it at once."""

    @cached_property
    def lock(self) -> ScheduleLock:
        settings = app_settings(self.app)
        return ScheduleLock(settings.DATABASE_URL, schedule_lock_key(settings, self.app.smartcompute_role))

    def tick(self, *args, **kwargs) -> float:
        if not self.lock.held():
            return min(STANDBY_SECONDS, self.max_interval)
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if "lock" in self.__dict__:
                self.lock.release()


@contextmanager
def one_round_at_a_time(engine: Engine, name: str) -> Iterator[bool]:
    """Yields whether this round of `name` may run: no other round of that name runs on this database. Once its
    body has finished without an error, the round's time is recorded for `/metrics` (smartcompute.maintenance).
    The lock is held on a connection of its own, so a round whose process dies frees it at once."""
    with engine.connect() as connection:
        key = round_lock_key(name)
        ours = connection.execute(_TRY_LOCK, {"key": key}).scalar()
        connection.commit()
        if not ours:
            log.info("another round of this kind is running; this one is skipped", extra={"round": name})
            yield False
            return
        try:
            yield True
            maintenance.record_finished(connection, name)
            connection.commit()
        finally:
            _unlock(connection, key)


def _unlock(connection: Connection, key: int) -> None:
    try:
        connection.rollback()
        connection.execute(_UNLOCK, {"key": key})
        connection.commit()
    except DBAPIError:  # the connection is gone, and the session's locks with it
        connection.invalidate()
