"""The Flask API. `create_app()` builds it; nothing here runs at import."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping

from flask import Flask, Response, g, request
from flask.json.provider import JSONProvider
from redis import Redis

from config import Settings
from config.settings import HS256_KEY_BYTES
from config.logging import configure_logging, request_id_var
from smartcompute.accounts.mail import configured_sender
from smartcompute.billing.secrets import resolve_settings, webhook_secrets
from smartcompute.billing.webhooks import configured_providers
from smartcompute import jsoncodec
from smartcompute.db import make_engine, make_session_factory
from web.after_response import AfterResponse
from web.dashboard import init_dashboard
from web.events import init_events
from web.problems import register_problem_handlers
from web.runtime import WebRuntime, close_db, web_runtime
from web.payments import init_payments
from web.security import register_access_control
from workers.celery_app import create_celery_app

log = logging.getLogger("smartcompute.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(settings: Settings | Mapping[str, str] | None = None) -> Flask:
    if settings is None:
        settings = Settings.from_env()
    elif not isinstance(settings, Settings):
        settings = Settings.from_mapping(settings)
    settings = resolve_settings(settings)  # secret references (vault:, aws-sm:) become their values, or stop here
    configure_logging(settings.LOG_LEVEL)
    if len(settings.JWT_SECRET_KEY.encode()) < HS256_KEY_BYTES:  # accepted, as 16+ characters always were
        log.warning(
            f"JWT_SECRET_KEY is shorter than {HS256_KEY_BYTES} bytes: RFC 7518 (section 3.2) asks for an "
            "HS256 key at least as long as its hash; generate one with `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`"
        )
    app = Flask(__name__)
    app.json = _FastJson(app)
    app.config.update(SECRET_KEY=settings.SECRET_KEY, MAX_CONTENT_LENGTH=settings.MAX_CONTENT_LENGTH)
    # One kept-open connection per request thread: a smaller pool opens and closes overflow connections (a
    # PostgreSQL process each) under load.
    # A statement stuck behind a lock (a migration, a stuck transaction) is cancelled and answered 503 before
    # gunicorn's worker timeout would kill the process and every request on its threads.
    timeout = settings.DATABASE_STATEMENT_TIMEOUT
    waits = {"statement_timeout": f"{timeout}s"} if timeout else {}
    engine = make_engine(settings.DATABASE_URL, pool_size=settings.WEB_THREADS, session_settings=waits)
    # Imported here, in the worker process: prometheus_client picks its multiprocess mode when first imported,
    # and gunicorn's master sets PROMETHEUS_MULTIPROC_DIR only when it starts (web/gunicorn_conf.py).
    from web.request_metrics import RequestMetrics

    app.extensions["smartcompute"] = WebRuntime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        autocommit_engine=make_engine(
            settings.DATABASE_URL, pool_size=settings.WEB_THREADS, autocommit=True, session_settings=waits
        ),
        celery=create_celery_app(settings),
        redis=Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2),
        webhook_providers=configured_providers(
            webhook_secrets(settings), tolerance=settings.STANDARD_WEBHOOKS_TOLERANCE
        ),
        request_metrics=RequestMetrics(settings.PROMETHEUS_MULTIPROC_DIR),
        mail=configured_sender(settings.SMTP_URL, settings.MAIL_FROM),
    )
    register_problem_handlers(app)
    _register_request_context(app)
    _register_blueprints(app)
    init_payments(app, settings)  # provider API clients and the billing, payments and dead-letter blueprints
    init_events(app, settings)  # server-sent events: the event streams' listener, bound and blueprint
    init_dashboard(app, settings)  # the web dashboard at /app, and the cookie session only it has
    register_access_control(app, settings)  # after the blueprints: it wraps the sign-in view with its limits
    app.wsgi_app = AfterResponse(app.wsgi_app)  # publishes once the response is sent (web/after_response.py)
    return app


class _FastJson(JSONProvider):
    """Flask's JSON through the project's one codec."""

    def dumps(self, obj, **kwargs) -> str:
        return jsoncodec.dumps(obj)

    def loads(self, s, **kwargs):
        return jsoncodec.loads(s)


def _register_blueprints(app: Flask) -> None:
    from web.account import account
    from web.admin import admin
    from web.api_keys import api_keys
    from web.health import health
    from web.hosts import hosts
    from web.invitations import invitations
    from web.jobs import jobs
    from web.metrics import metrics
    from web.openapi import openapi
    from web.passwords import passwords
    from web.tokens import tokens
    from web.webhooks import webhooks

    for blueprint in (
        health,
        jobs,
        hosts,
        tokens,
        passwords,
        webhooks,
        openapi,
        api_keys,
        account,
        invitations,
        admin,
        metrics,
    ):
        app.register_blueprint(blueprint)


def _register_request_context(app: Flask) -> None:
    @app.before_request
    def _take_request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    def _stamp_response(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round(seconds * 1000, 2),
            },
        )
        route = request.url_rule.rule if request.url_rule is not None else None
        web_runtime().request_metrics.observe(request.method, route, response.status_code, seconds)
        return response

    app.teardown_appcontext(close_db)
