"""Per-process worker resources and the PostgreSQL advisory locks that keep jobs single-flight."""
from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from celery import Celery
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from smartcompute.db import make_engine, make_session_factory
from workers.celery_app import app_settings


@dataclass
class WorkerRuntime:
    pid: int
    settings: Settings
    engine: Engine
    sessions: sessionmaker


_runtime: WorkerRuntime | None = None


def runtime(celery: Celery) -> WorkerRuntime:
    """Created on first use in each process: a pool inherited across fork would share sockets."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        settings = app_settings(celery)
        engine = make_engine(settings.DATABASE_URL, pool_size=2)
        event.listen(engine, "connect", _notice_dead_clients)
        _runtime = WorkerRuntime(os.getpid(), settings, engine, make_session_factory(engine))
    return _runtime


def _notice_dead_clients(dbapi_connection, _record) -> None:
    """Ask PostgreSQL (14+) to check every 2 s that this worker is still there while it waits or works.

    Without it, a backend blocked on a lock keeps the job's execution lock after its worker was
    SIGKILLed, until the wait ends; with it the lock is freed within seconds and redelivery proceeds.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET client_connection_check_interval = 2000")
        dbapi_connection.commit()
    except Exception:  # an older server without the setting: redelivery then waits for the lock instead
        dbapi_connection.rollback()
    finally:
        cursor.close()


def _lock_key(namespace: str, *parts: object) -> int:
    digest = hashlib.sha256("|".join([namespace, *map(str, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def job_lock_key(job_id: uuid.UUID) -> int:
    return _lock_key("job", job_id)


def host_lock_key(account_id: uuid.UUID, host: str) -> int:
    return _lock_key("host", account_id, host)


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")
_HOST_LOCK = text("SELECT pg_advisory_lock(:key)")


@contextmanager
def locked_job_session(engine: Engine, job_id: uuid.UUID) -> Iterator[Session | None]:
    """A session whose connection holds the job's execution lock, or None if another live worker holds it.

    The lock is tied to the connection, so PostgreSQL drops it the moment a SIGKILLed worker's socket
    closes: a redelivered message then gets the lock and knows the earlier run is gone. It is taken in the
    session's first transaction, which the claim commits, to spare a round trip; the task normally gives it
    back in its finishing transaction (`release_job_lock`), and otherwise it is given back here.
    """
    connection = engine.connect()
    session = Session(bind=connection, expire_on_commit=False)
    try:
        acquired = session.connection().execute(_TRY_LOCK, {"key": job_lock_key(job_id)}).scalar()
        yield session if acquired else None
    finally:
        try:
            session.rollback()  # a session-level advisory lock outlives a rollback; it is released below
            if not session.info.get("job_lock_released") or session.info.get("host_locked"):
                session.connection().execute(_UNLOCK_ALL)
                session.commit()
        finally:
            session.close()
            connection.close()


def release_job_lock(session: Session, job_id: uuid.UUID) -> None:
    """Give the job's lock back inside the transaction that finishes the job, sparing one of its own.

    Safe before that commit: a duplicate delivery that takes the lock now runs its claim, whose UPDATE waits
    for this transaction's row lock and then finds the job finished (or, if this rolls back, runs it).
    """
    session.connection().execute(_UNLOCK, {"key": job_lock_key(job_id)})
    session.info["job_lock_released"] = True


def job_lock_is_free(session: Session, job_id: uuid.UUID) -> bool:
    """True when no worker is running the job; takes and releases the lock (in one transaction) to find out."""
    key = job_lock_key(job_id)
    if not session.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
        return False
    session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    return True


def lock_host(session: Session, account_id: uuid.UUID, host: str) -> None:
    """Serialise jobs of one host so two never interleave updates to its learned baseline."""
    session.connection().execute(_HOST_LOCK, {"key": host_lock_key(account_id, host)})
    session.info["host_locked"] = True  # released only after the baseline commits (see locked_job_session)
    session.commit()
