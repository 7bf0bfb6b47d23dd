"""What a running API process holds: settings, the database, the broker client and Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from celery import Celery
from flask import current_app, g
from redis import Redis
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from smartcompute.accounts.mail import MailSender
from smartcompute.billing.webhooks import WebhookProvider

if TYPE_CHECKING:  # imported by create_app alone: see there
    from web.request_metrics import RequestMetrics


@dataclass
class WebRuntime:
    settings: Settings
    engine: Engine
    autocommit_engine: Engine  # single statements that are their own transaction (see `statement_db`)
    sessions: sessionmaker
    celery: Celery
    redis: Redis
    webhook_providers: dict[str, WebhookProvider]
    request_metrics: RequestMetrics
    mail: MailSender | None = None  # SMTP_URL's sender; None: tokens are printed by the operator's CLI


def web_runtime() -> WebRuntime:
    return current_app.extensions["smartcompute"]


def db() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = web_runtime().sessions()
    return g.db


def statement_db() -> Connection:
    """The request's autocommit connection for work that is one statement, each its own transaction: the
    caller's lookup, job submission (one function), job reads and webhook intake. It sends no BEGIN or COMMIT,
    and holds no transaction open while the request's Python runs. It is a Core connection, not a Session: no
    ORM object is loaded through it, and a Session's bookkeeping would add to every such request's own client
    work. Anything that must commit several statements together uses `db()`."""
    if "statement_db" not in g:
        g.statement_db = web_runtime().autocommit_engine.connect()
    return g.statement_db


def close_db(_error: BaseException | None = None) -> None:
    for name in ("db", "statement_db"):
        session_or_connection = g.pop(name, None)
        if session_or_connection is not None:
            session_or_connection.close()
