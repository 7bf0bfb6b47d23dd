"""What a running API process holds: settings, the database, the broker client and Redis."""
from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app, g
from redis import Redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from smartcompute.accounts.services import Principal
from smartcompute.billing.webhooks import WebhookProvider


@dataclass
class WebRuntime:
    settings: Settings
    engine: Engine
    autocommit_engine: Engine  # single statements that are their own transaction (see `statement_db`)
    sessions: sessionmaker
    celery: Celery
    redis: Redis
    webhook_providers: dict[str, WebhookProvider]
    bench_principal: Principal | None = None  # BENCH_NO_AUTH_USER_ID only: auth and limits off


def web_runtime() -> WebRuntime:
    return current_app.extensions["smartcompute"]


def db() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = web_runtime().sessions()
    return g.db


def statement_db() -> Session:
    """The request's session for work that is one statement, each its own transaction: the caller's lookup,
    job submission (one function), job reads and webhook intake. It sends no BEGIN or COMMIT, and holds no
    transaction open while the request's Python runs. Anything that must commit several statements together
    uses `db()`."""
    if "statement_db" not in g:
        g.statement_db = Session(bind=web_runtime().autocommit_engine, expire_on_commit=False)
    return g.statement_db


def close_db(_error: BaseException | None = None) -> None:
    for name in ("db", "statement_db"):
        session = g.pop(name, None)
        if session is not None:
            session.close()
