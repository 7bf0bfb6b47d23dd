"""The dashboard's session cookie and its CSRF token; the API under /v1 stays cookieless.

The cookie is Flask's signed cookie session, scoped to `/app`, HttpOnly, SameSite=Lax and Secure whenever the
request came over TLS (directly or through the trusted proxy). It holds the sign-in's id, not a token: every
request re-reads that sign-in from PostgreSQL (web/auth.py), so signing out, a disabled user or a new role take
effect at once, whatever copy of the cookie is replayed.
"""

from __future__ import annotations

import hmac
import secrets
import uuid

from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSessionInterface

PREFIX = "/app"
COOKIE_NAME = "smartcompute_dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class DashboardCookieSession(SecureCookieSessionInterface):
    """A signed cookie session for `/app` alone. Every other path gets Flask's null session: API callers
    authenticate by header, and no API response sets or reads a cookie."""

    def open_session(self, app: Flask, request: Request):
        if not is_dashboard_path(request.path):
            return None
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        if is_dashboard_path(request.path):
            super().save_session(app, session, response)

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE_NAME

    def get_cookie_path(self, app: Flask) -> str:
        return PREFIX

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"


def csrf_token() -> str:
    """The session's token, made on first use; forms carry it in a hidden field, scripts in a header."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_is_valid() -> bool:
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def remember_sign_in(user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """A fresh session (and CSRF token) for the sign-in, so nothing chosen before it carries over."""
    session.clear()
    session.permanent = True
    session.update(user=str(user_id), sign_in=str(session_id), csrf=secrets.token_urlsafe(32))


def signed_in_ids() -> tuple[uuid.UUID, uuid.UUID] | None:
    """(user id, sign-in id) from the cookie, or None."""
    try:
        return uuid.UUID(session["user"]), uuid.UUID(session["sign_in"])
    except (KeyError, ValueError, TypeError):
        return None


def forget_sign_in() -> None:
    session.clear()
