"""The import as one operation: read every path, plan, write in one transaction, report."""

from __future__ import annotations

from datetime import datetime, UTC
from pathlib import Path
from collections.abc import Callable

from sqlalchemy.orm import Session

from smartcompute.accounts.models import User
from smartcompute.accounts.services import find_user_id
from smartcompute.ingest.legacy.json_source import read_directory
from smartcompute.ingest.legacy.plan import plan_import
from smartcompute.ingest.legacy.records import LegacySource
from smartcompute.ingest.legacy.report import report_lines
from smartcompute.ingest.legacy.sqlite_source import read_database
from smartcompute.ingest.legacy.writer import write_plan


def read_sources(paths: list[Path], *, json_host: str | None) -> list[LegacySource]:
    """A directory is read as JSON files, a file as a SQLite database (NotALegacyDatabase otherwise)."""
    return [read_directory(path, json_host) if path.is_dir() else read_database(path) for path in paths]


def import_legacy(
    sessions: Callable[[], Session],
    paths: list[Path],
    *,
    email: str,
    json_host: str | None,
    keep_days: int,
    dry_run: bool,
) -> list[str]:
    """Import into the account of the user `email`; returns the report's lines. All of it commits, or (on any
    error, or a dry run) none of it."""
    sources = read_sources(paths, json_host=json_host)
    now = datetime.now(UTC)
    plan = plan_import(sources, now=now.timestamp())
    with sessions() as session:
        user = session.get_one(User, find_user_id(session, email))
        outcome = write_plan(session, plan, account_id=user.account_id, user_id=user.id, keep_days=keep_days, now=now)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return report_lines(sources, outcome, dry_run=dry_run)
