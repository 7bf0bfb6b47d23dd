"""`celery -A workers authenticated-flower [Flower's options]`: Flower, asking for its basic auth on every path.

Flower's own `--basic-auth` guards its pages and API but not `/metrics`, `/healthcheck` or its static files,
and none of its options changes that. This runs the same Flower, configured the same way (its options,
`FLOWER_*` variables and flowerconfig.py, read by Flower's own functions), as a Tornado application that checks
the credentials before it routes a request anywhere. Without credentials configured it does not start.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hmac
import signal
import sys

import click
import tornado.web
from celery.bin.base import CeleryCommand
from flower import command as flower_command
from flower.app import Flower
from flower.urls import settings as flower_settings
from tornado.httputil import HTTPServerRequest
from tornado.options import options


class _Unauthorized(tornado.web.RequestHandler):
    """The one answer to a request without the right credentials, whatever its path or method."""

    def prepare(self) -> None:
        self.set_status(401)
        self.set_header("WWW-Authenticate", 'Basic realm="flower"')
        self.finish("Access denied")


class AuthenticatedFlower(Flower):
    def find_handler(self, request: HTTPServerRequest, **kwargs):
        if not credentials_match(request.headers.get("Authorization", ""), self.options.basic_auth):
            return self.get_handler_delegate(request, _Unauthorized)
        return super().find_handler(request, **kwargs)


def credentials_match(authorization: str, allowed: list[str]) -> bool:
    """A `Basic` Authorization header naming one of the `user:password` pairs, compared in constant time."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return any([hmac.compare_digest(given, pair.encode()) for pair in allowed])  # a list: every pair compared


@click.command("authenticated-flower", cls=CeleryCommand, context_settings={"ignore_unknown_options": True})
@click.argument("tornado_argv", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def authenticated_flower(ctx: click.Context, tornado_argv: tuple[str, ...]) -> None:
    """Flower, asking for its basic auth (--basic-auth or FLOWER_BASIC_AUTH) on every path."""
    flower_command.apply_env_options()
    flower_command.apply_options(sys.argv[0], list(tornado_argv))
    if not options.basic_auth:
        raise click.UsageError("FLOWER_BASIC_AUTH: is required (user:password), or --basic-auth")
    flower_command.extract_settings()
    flower_command.setup_logging()
    app = ctx.obj.app
    server = AuthenticatedFlower(capp=app, options=options, **flower_settings)
    atexit.register(server.stop)
    signal.signal(signal.SIGTERM, flower_command.sigterm_handler)
    port = server.start_http_server()
    if not ctx.obj.quiet:
        flower_command.print_banner(app, "ssl_options" in flower_settings, port)
    try:
        server.start()
    except (KeyboardInterrupt, SystemExit):
        pass
