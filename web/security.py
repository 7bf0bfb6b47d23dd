"""Secure defaults for every response, and the order in which access control runs.

- Security headers on every response (errors included); no caching of API answers.
- CORS closed unless `CORS_ORIGINS` lists the origin; never `*`, never with cookies (we use none).
- The client address comes from the socket, or from the trusted proxy's X-Forwarded-For entry when
  `TRUSTED_PROXY_COUNT` says a proxy is in front; a client's own X-Forwarded-For entries are ignored.
- An HTTP/1.1 request must name one valid host (RFC 9112, section 3.2): none, two, or a malformed one is 400,
  so no part of the stack can read a different host than another.
- Then: resolve the caller (`web.auth.resolve_principal`), then rate-limit keyed by them (`web.ratelimit`).
"""

from __future__ import annotations

import re

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings
from web.auth import resolve_principal
from web.problems import Problem
from web.ratelimit import create_limiter

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# RFC 3986's host (an IP literal, or a name of its characters) with an optional port; no comma, since gunicorn
# joins repeated Host field lines with one.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]*)(:[0-9]*)?")
_ONE_HOST = "an HTTP/1.1 request must name its host in one valid Host header field"
_CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-API-Key, Idempotency-Key, X-Request-ID, Last-Event-ID"
_CORS_EXPOSE_HEADERS = (
    "Location, Retry-After, X-Request-ID, RateLimit, RateLimit-Policy, X-RateLimit-Limit, "
    "X-RateLimit-Remaining, X-RateLimit-Reset"
)


def register_access_control(app: Flask, settings: Settings) -> None:
    """Call once blueprints are registered (the sign-in view gets its own limits)."""
    app.config.update(DEBUG=False, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)
    if settings.TRUSTED_PROXY_COUNT:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.TRUSTED_PROXY_COUNT, x_proto=settings.TRUSTED_PROXY_COUNT)
    app.before_request(_require_one_host)
    app.before_request(resolve_principal)
    create_limiter(app, settings)
    origins = frozenset(settings.CORS_ORIGINS or ())
    app.after_request(lambda response: _secure(response, origins))


def _require_one_host() -> None:
    host = request.environ.get("HTTP_HOST")
    missing = host is None and request.environ.get("SERVER_PROTOCOL") == "HTTP/1.1"
    if missing or (host is not None and not _HOST.fullmatch(host)):
        raise Problem(400, _ONE_HOST)


def _secure(response: Response, origins: frozenset[str]) -> Response:
    # One pass over the headers already set; setdefault would scan them all again for each security header.
    present = {name.lower() for name in response.headers.keys()}
    response.headers.extend((name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present)
    origin = request.headers.get("Origin")
    if origins:
        response.vary.add("Origin")
    if origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE"
            response.headers["Access-Control-Allow-Headers"] = _CORS_ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    return response
