"""Work a request leaves for after its response: the WSGI server runs it once the client has the answer.

A job or webhook event is committed before its response, and publishing it changes nothing the client is
told (a broker that refuses it leaves it to the re-publisher either way). So the publish runs after the
response is sent: the client does not wait for the broker's confirm, nor for a broker that hangs.

WSGI servers call `close()` on the response they sent; this middleware runs the request's queued callbacks
then, in the context (request id for the log) they were queued in. gunicorn calls it after the last byte is
written. Each callback is on its own: one that fails is logged and the next still runs.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable, Iterable

from celery import Celery
from flask import request
from sqlalchemy.orm import Session
from werkzeug.wsgi import ClosingIterator

from web.runtime import web_runtime

log = logging.getLogger("smartcompute.web")
_ENVIRON_KEY = "smartcompute.after_response"


def after_response(callback: Callable[[], None]) -> None:
    """Run `callback` once this request's response has been sent (see the module docstring)."""
    request.environ[_ENVIRON_KEY].append((contextvars.copy_context(), callback))


def publish_after_response(
    what: str,
    record_id: uuid.UUID,
    publish: Callable[[Celery], None],
    mark_unsent: Callable[[Session, uuid.UUID], None],
) -> None:
    """Send a committed job or event to the broker after the response. If the broker refuses it, the row is
    marked unsent, and the re-publisher sends it after REPUBLISH_UNSENT_AFTER."""
    runtime = web_runtime()

    def send() -> None:
        try:
            publish(runtime.celery)
        except Exception as error:  # any broker failure: the row is safe in PostgreSQL either way
            log.warning(
                f"broker unavailable; {what} left for the re-publisher",
                extra={f"{what}_id": str(record_id), "error": str(error)},
            )
            with runtime.sessions() as session:
                mark_unsent(session, record_id)

    after_response(send)


class AfterResponse:
    """The middleware: `app.wsgi_app = AfterResponse(app.wsgi_app)`."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        queued: list[tuple[contextvars.Context, Callable[[], None]]] = []
        environ[_ENVIRON_KEY] = queued
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            _run(queued)
            raise
        return ClosingIterator(body, lambda: _run(queued))


def _run(queued: list[tuple[contextvars.Context, Callable[[], None]]]) -> None:
    while queued:
        context, callback = queued.pop(0)
        try:
            context.run(callback)
        except Exception:  # the response is gone: nothing to tell the client, so tell the log
            log.exception("work left for after the response failed")
