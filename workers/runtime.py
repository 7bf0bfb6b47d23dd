"""Per-process worker resources and the PostgreSQL advisory locks that keep jobs single-flight."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator
from urllib.parse import urlsplit

from celery import Celery
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from smartcompute.db import SCHEMA_REVISION, database_revision, make_engine, make_session_factory, schema_is_behind
from workers.celery_app import app_settings

log = logging.getLogger("smartcompute.worker")


@dataclass
class WorkerRuntime:
    pid: int
    settings: Settings
    engine: Engine
    sessions: sessionmaker
    job_engine: Engine  # autocommit: a job's claim and finish are one statement (and transaction) each


_runtime: WorkerRuntime | None = None


def runtime(celery: Celery) -> WorkerRuntime:
    """Created on first use in each process: a pool inherited across fork would share sockets."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        settings = app_settings(celery)
        engine = make_engine(settings.DATABASE_URL, pool_size=2, session_settings=_NOTICE_DEAD_CLIENTS)
        job_engine = make_engine(
            settings.DATABASE_URL,
            pool_size=1,
            autocommit=True,  # one task at a time
            session_settings=_NOTICE_DEAD_CLIENTS,
        )
        _runtime = WorkerRuntime(os.getpid(), settings, engine, make_session_factory(engine), job_engine)
    return _runtime


# PostgreSQL (14+) checks every 2 s that this worker is still there while it waits or works. Without it, a
# backend blocked on a lock keeps the job's execution lock after its worker was SIGKILLed, until the wait ends;
# with it the lock is freed within seconds and redelivery proceeds. An older server skips it: redelivery then
# waits for the lock instead. No statement timeout here: a job may wait its turn on its host's lock.
_NOTICE_DEAD_CLIENTS = {"client_connection_check_interval": "2000"}


@contextmanager
def main_process_connection(celery: Celery) -> Iterator[Connection]:
    """A connection for the worker's main process, closed with its engine once used: the pool processes it forks
    later must inherit no pool (one that a child's garbage collector closed would end the parent's session)."""
    engine = make_engine(app_settings(celery).DATABASE_URL, pool_size=1)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def warn_if_schema_behind(sender=None, instance=None, **kwargs) -> None:
    """Celery's `celeryd_after_setup` signal: a worker started before the release step (or against the wrong
    database) says so once, in its main process, before its jobs' statements fail on what the schema lacks."""
    app = getattr(instance, "app", None)
    if app is None:
        return
    try:
        with main_process_connection(app) as connection:
            revision = database_revision(connection)
    except Exception:  # the database is not reachable yet: each task's retries say so
        return
    if schema_is_behind(revision):
        log.error(
            f"the database is at schema revision {revision or 'none'} and this worker needs {SCHEMA_REVISION}: "
            "run the release step (alembic upgrade head)"
        )


def _lock_key(namespace: str, *parts: object) -> int:
    digest = hashlib.sha256("|".join([namespace, *map(str, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def job_lock_key(job_id: uuid.UUID) -> int:
    return _lock_key("job", job_id)


def host_lock_key(account_id: uuid.UUID, host: str) -> int:
    return _lock_key("host", account_id, host)


def round_lock_key(name: str) -> int:
    """A scheduled round's lock: one round of each name runs at a time on a database."""
    return _lock_key("round", name)


def schedule_lock_key(settings: Settings, role: str) -> int:
    """The lock a scheduler holds while it sends a worker role's schedule. Schedulers of one database that send
    to the same broker namespace (RabbitMQ vhost, or Redis database and key prefix) share it; the broker's host
    is left out, so replicas that reach one cluster through different nodes still share it."""
    return _lock_key("schedule", role, urlsplit(settings.BROKER_URL).path, settings.BROKER_KEY_PREFIX)


_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")
_HOST_LOCK = text("SELECT pg_advisory_lock(:key)")


@dataclass
class JobRun:
    """One delivery's autocommit connection, and whether it may still hold advisory locks (see `job_run`)."""

    connection: Connection
    job_lock_released: bool = False  # the finishing statement gave the job's execution lock back
    host_locked: bool = False  # `lock_host` took the host's lock; it is only given back at the end


@contextmanager
def job_run(job_engine: Engine) -> Iterator[JobRun]:
    """A Core connection in autocommit, which holds the advisory locks of one job run.

    The job's execution lock is taken by its claim and normally given back by its finishing statement. Advisory
    locks are tied to the connection, so PostgreSQL drops them the moment a SIGKILLed worker's socket closes: a
    redelivered message then gets the lock and knows the earlier run is gone. Whatever is still held at the end
    (a host lock, or the job's after an error) is given back here, before the connection returns to the pool.
    A connection the database dropped (a restart, a failover) took its session's locks with it: nothing is
    given back then, and the error that lost it is the one the task sees (and retries on), not a second one.
    No ORM Session: every statement of a run is a single Core statement, and a Session's bookkeeping around
    them cost about as much as the statements' own client work.
    """
    connection = job_engine.connect()
    run = JobRun(connection)
    try:
        yield run
    finally:
        try:
            if not connection.invalidated and (not run.job_lock_released or run.host_locked):
                connection.execute(_UNLOCK_ALL)
        finally:
            connection.close()


def job_lock_is_free(session: Session, job_id: uuid.UUID) -> bool:
    """True when no worker is running the job; takes and releases the lock (in one transaction) to find out."""
    key = job_lock_key(job_id)
    if not session.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
        return False
    session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    return True


def lock_host(run: JobRun, account_id: uuid.UUID, host: str) -> None:
    """Serialise jobs of one host so two never interleave updates to its learned baseline."""
    run.connection.execute(_HOST_LOCK, {"key": host_lock_key(account_id, host)})
    run.host_locked = True  # released only after the baseline commits (see job_run)
