"""The one way to reach PostgreSQL: a declarative base, an engine factory and a session factory."""

from __future__ import annotations

import select
import uuid
from collections.abc import Mapping
from datetime import datetime, UTC
from functools import partial
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, Table, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from smartcompute import jsoncodec
from smartcompute.numbers import is_whole_number

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # A Table, as Core's update() needs; the declarative base types it only as some FromClause.
    __table__: ClassVar[Table]
    type_annotation_map = {datetime: DateTime(timezone=True)}


# The Alembic revision this code needs (migrations/versions). Revisions are numbered in order, so a database
# at a lower number has migrations pending; one at a number this code does not know was migrated by a newer
# release, whose schema still serves this one (tests/test_migrations.py keeps this equal to Alembic's head).
SCHEMA_REVISION = "0018"
_UNDEFINED_TABLE = "42P01"  # SQLSTATE: no alembic_version, the database was never migrated


def database_revision(connection: Connection) -> str | None:
    """The Alembic revision the database is at; None when it was never migrated. Run outside a transaction one
    cares about: a never-migrated database fails the statement."""
    try:
        return connection.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()
    except ProgrammingError as error:
        if getattr(error.orig, "pgcode", None) != _UNDEFINED_TABLE:
            raise
        connection.rollback()
        return None


def schema_is_behind(revision: str | None) -> bool:
    """True when the database needs migrations this code relies on: never migrated, or at an older revision."""
    if revision is None:
        return True
    return is_whole_number(revision) and int(revision) < int(SCHEMA_REVISION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def storable(value: Any) -> Any:
    """`value` with each NUL character (U+0000) in its strings and keys replaced by U+FFFD, which PostgreSQL's
    text and jsonb can hold. Only for data that must be kept whatever it holds, with its original bytes stored
    beside it; the API refuses NUL in what clients send instead."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    return value


# libpq parameters for a long-lived connection that must notice a network that stopped answering within about
# 10 s (a scheduler's lock, an API process's event listener), where the kernel's defaults take hours.
DEAD_PEER_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    autocommit: bool = False,
    session_settings: Mapping[str, str] | None = None,
    connect_args: Mapping[str, object] | None = None,
) -> Engine:
    # No pre-ping: it costs a round trip on every checkout. A connection the server closed while it sat in the
    # pool (a restart, a failover, a terminated backend) is replaced on checkout instead, at the cost of one
    # poll(2) (`_replace_if_closed_by_server`); one dropped mid-use fails its statement, and the caller's error
    # handling (503 in the API, a retry in workers) covers it. pool_recycle retires connections before
    # server-side timeouts.
    # `autocommit`: a pool whose connections stay in autocommit, for single statements that are their own
    # transaction (no BEGIN/COMMIT round trips, and no switching a shared connection's mode back and forth).
    # `session_settings`: PostgreSQL settings SET once on each new connection (see `_apply_session_settings`).
    # `connect_args`: more libpq connection parameters, such as TCP keepalives.
    engine = create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=10,
        pool_recycle=1800,
        json_serializer=jsoncodec.dumps,
        json_deserializer=jsoncodec.loads,
        connect_args={"connect_timeout": 5, "application_name": "smartcompute", **(connect_args or {})},
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    event.listen(engine, "checkout", _replace_if_closed_by_server)
    if session_settings:
        event.listen(engine, "connect", partial(_apply_session_settings, dict(session_settings)))
    return engine


def _replace_if_closed_by_server(dbapi_connection, _record, _proxy) -> None:
    """An idle connection has nothing to read unless its server has said goodbye: a backend ending (a restart,
    a failover, pg_terminate_backend) sends its error and closes the socket. Raising DisconnectionError makes the
    pool open a new connection in its place, so the caller never sees the dead one."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def _apply_session_settings(settings: dict[str, str], dbapi_connection, _record) -> None:
    """SET on the new connection, not as a startup `options` parameter, which PgBouncer refuses by default.
    A setting this server does not know (an older PostgreSQL) is skipped; the others still apply."""
    cursor = dbapi_connection.cursor()
    try:
        for name, value in settings.items():
            try:
                cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
                dbapi_connection.commit()
            except Exception:
                dbapi_connection.rollback()
    finally:
        cursor.close()


def driver_reason(error: Exception) -> str:
    """The first line of what the database driver said, for a one-line error (`error` is SQLAlchemy's DBAPIError)."""
    return (str(getattr(error, "orig", error)).strip().splitlines() or ["unknown error"])[0]


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


# Single statements that are their own transaction run on a bare autocommit Connection (a worker's job run, the
# API's `statement_db`): an ORM Session's bookkeeping around them cost about as much client CPU as the statement.
# Functions that run such statements take either; tests and multi-statement callers pass a Session.
Database = Session | Connection


def connection_of(db: Database) -> Connection:
    """The Core connection a statement runs on: the Session's current one, or the Connection itself."""
    return db.connection() if isinstance(db, Session) else db
