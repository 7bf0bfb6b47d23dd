"""Liveness (`/health`) and readiness (`/health/ready`: database, broker and Redis reachable, and the database
migrated as far as this code needs)."""

from __future__ import annotations

import logging
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel

from smartcompute.db import SCHEMA_REVISION, database_revision, schema_is_behind
from web.access import PUBLIC
from web.problems import Problem
from web.routes import Reply, operation
from web.runtime import web_runtime

log = logging.getLogger("smartcompute.web")
health = Blueprint("health", __name__)


class Alive(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, Literal["ok"]]


class _NotReady(Exception):
    """A dependency answers but cannot serve yet; the message is the check's state."""


def _database_ok() -> None:
    """Reachable, and migrated: an API started before its release step (or beside a database restored from an
    older backup) would otherwise take requests its queries fail on. A revision newer than this code's is ready:
    during a rolling deploy the old instances keep serving on the migrated schema."""
    with web_runtime().engine.connect() as connection:
        revision = database_revision(connection)
    if schema_is_behind(revision):
        log.warning("database not migrated", extra={"revision": revision, "needs": SCHEMA_REVISION})
        raise _NotReady("migrations pending")


def _redis_ok() -> None:
    web_runtime().redis.ping()


def _broker_ok() -> None:
    with web_runtime().celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


@operation(
    health,
    "GET",
    "/health",
    "health",
    "The process is up",
    access=PUBLIC,
    rate_limited=False,
    responses={200: Reply("Up", Alive)},
)
def alive() -> Alive:
    return Alive(status="ok")


@operation(
    health,
    "GET",
    "/health/ready",
    "ready",
    "Database, broker and Redis reachable",
    access=PUBLIC,
    rate_limited=False,
    responses={200: Reply("Ready", Ready), 503: "A dependency is down; `checks` says which"},
)
def ready() -> Ready:
    checks = {}
    for name, check in (("database", _database_ok), ("broker", _broker_ok), ("redis", _redis_ok)):
        try:
            check()
            checks[name] = "ok"
        except _NotReady as reason:
            checks[name] = str(reason)
        except Exception as error:  # any failure means "not ready"; say which dependency and why
            log.warning("readiness check failed", extra={"dependency": name, "error": str(error)})
            checks[name] = "unavailable"
    if all(state == "ok" for state in checks.values()):
        return Ready(status="ready", checks=checks)
    detail = "; ".join(
        f"{state}: {', '.join(name for name, each in checks.items() if each == state)}"
        for state in dict.fromkeys(state for state in checks.values() if state != "ok")
    )
    raise Problem(503, detail, kind="dependency-unavailable", headers={"Retry-After": "5"}, members={"checks": checks})
