"""Liveness (`/health`) and readiness (`/health/ready`: database, broker and Redis reachable)."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, json
from sqlalchemy import text

from web.runtime import web_runtime

log = logging.getLogger("smartcompute.web")
health = Blueprint("health", __name__)


def _database_ok() -> None:
    with web_runtime().engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _redis_ok() -> None:
    web_runtime().redis.ping()


def _broker_ok() -> None:
    with web_runtime().celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


@health.get("/health")
def alive():
    return Response(json.dumps({"status": "ok"}), mimetype="application/json")


@health.get("/health/ready")
def ready():
    checks = {}
    for name, check in (("database", _database_ok), ("broker", _broker_ok), ("redis", _redis_ok)):
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure means "not ready"; say which dependency and why
            log.warning("readiness check failed", extra={"dependency": name, "error": str(error)})
            checks[name] = "unavailable"
    down = [name for name, state in checks.items() if state != "ok"]
    if not down:
        return Response(json.dumps({"status": "ready", "checks": checks}), mimetype="application/json")
    body = {
        "type": "/problems/dependency-unavailable", "title": "Service Unavailable", "status": 503,
        "detail": f"unavailable: {', '.join(down)}", "checks": checks,
    }
    return Response(json.dumps(body), status=503, mimetype="application/problem+json", headers={"Retry-After": "5"})
