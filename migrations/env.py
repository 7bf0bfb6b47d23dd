"""Alembic runs migrations against DATABASE_URL, or the connection or URL a caller hands it."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from smartcompute.db import driver_reason
from smartcompute.models import Base

config = context.config
# Held for the migration's transaction: a second `release` step that starts meanwhile (two deploys, or
# instances that migrate as they start) waits, then finds the schema at head, instead of creating the same
# tables again and failing. Any fixed 64-bit key; the job and host locks are hashes, far from it.
MIGRATION_LOCK_KEY = 0x536D617274436D70
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from config import ConfigError, database_url_from_env

    try:
        return database_url_from_env()
    except ConfigError as error:  # the release step stops with one line naming the setting, not a traceback
        raise SystemExit(f"Error: {error}") from None


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_database_url())
    try:
        connection = engine.connect()
    except OperationalError as error:  # one line, as for a bad setting; a failing migration keeps its traceback
        raise SystemExit(f"Error: cannot reach the database: {driver_reason(error)}") from None
    with connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
