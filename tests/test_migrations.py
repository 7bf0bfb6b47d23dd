"""Alembic: one head, upgrade on an empty database, downgrade to base, and models that match the migrations."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from migrations.sql import definition
from smartcompute.db import SCHEMA_REVISION
from smartcompute.jobs.enums import JobStatus, JobType
from tests.support import REPO, alembic_config


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_there_is_a_single_head(database_url):
    assert len(ScriptDirectory.from_config(alembic_config(database_url)).get_heads()) == 1


def test_the_code_knows_its_schema_revision_and_revisions_are_numbered_in_order(database_url):
    """What `/health/ready` compares the database's revision with (smartcompute/db.py)."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    assert script.get_current_head() == SCHEMA_REVISION
    for revision in script.walk_revisions():
        assert revision.down_revision is None or int(revision.revision) == int(revision.down_revision) + 1


def test_upgrade_then_downgrade_then_upgrade_again(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    assert {"jobs", "accounts", "users", "api_keys", "webhook_events", "host_baselines"} <= tables(empty_database_url)
    command.downgrade(config, "base")
    assert tables(empty_database_url) == set()
    command.upgrade(config, "head")
    assert "jobs" in tables(empty_database_url)


def test_release_steps_started_together_all_succeed(empty_database_url):
    """Two deploys at once, or instances that migrate as they start: the Procfile's `release` step runs
    concurrently on an empty database. Each waits for the one migrating, and none creates a table twice."""
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    releases = [
        subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [release.communicate(timeout=120)[0] for release in releases]
    assert [release.returncode for release in releases] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 0001" in output for output in outputs) == 1
    head = ScriptDirectory.from_config(alembic_config(empty_database_url)).get_current_head()
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()


def test_the_models_match_the_migrations(database_url):
    """Alembic's own check: autogenerate finds nothing to add."""
    command.check(alembic_config(database_url))


def test_large_json_columns_compress_with_lz4_where_the_server_has_it(database_url):
    """A job's telemetry, its result and a host's baseline; a server built without LZ4 keeps its default."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            try:
                connection.execute(text("SET default_toast_compression = 'lz4'"))
                expected = "l"
            except DBAPIError:  # "invalid value for parameter": this server has no LZ4
                connection.rollback()
                expected = ""
            methods = dict(
                connection.execute(
                    text(
                        "SELECT attrelid::regclass::text || '.' || attname, attcompression FROM pg_attribute "
                        "WHERE (attrelid, attname) IN (('jobs'::regclass, 'data'), ('jobs'::regclass, 'result'), "
                        "('host_baselines'::regclass, 'state'))"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert methods == {"jobs.data": expected, "jobs.result": expected, "host_baselines.state": expected}


def test_the_jobs_checks_accept_exactly_the_statuses_and_types_the_code_names(database_url):
    """The model writes its CHECK constraints from the enums; the migrated database must hold the same values."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            checks = dict(
                connection.execute(
                    text(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = 'jobs'::regclass AND conname IN ('ck_jobs_status', 'ck_jobs_type')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert re.findall(r"'(\w+)'", checks["ck_jobs_status"]) == list(JobStatus)
    assert re.findall(r"'(\w+)'", checks["ck_jobs_type"]) == list(JobType)


def test_the_job_functions_compare_statuses_and_types_only_with_values_the_code_names():
    """The job functions are SQL text, not generated from the enums: a misspelt status or type there would match
    no row and fail silently."""
    for function in ("claim_job", "finish_job", "submit_job", "record_job_events"):
        sql = definition(function)
        statuses = _compared_values("status", sql)
        assert statuses and statuses <= set(JobStatus), function
        assert _compared_values("type", sql) <= set(JobType), function


def _compared_values(column: str, sql: str) -> set[str]:
    compared = re.compile(rf"\b{column} (?:=|IN) \(?((?:'\w+'(?:, )?)+)")
    return {value for found in compared.findall(sql) for value in re.findall(r"'(\w+)'", found)}
