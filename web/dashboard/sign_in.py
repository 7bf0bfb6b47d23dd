"""Signing in to the dashboard with email and password, and out again.

The sign-in is the API's own (`web.tokens.sign_in`): the same password check, audit records and sign-in limits
(web/sign_in_limits.py guards `dashboard.sign_in` as it guards `POST /v1/auth/token`). Signing out ends that
sign-in in PostgreSQL, so the cookie is worthless afterwards even if a copy of it was kept.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from web import tokens
from web.dashboard.cookies import forget_sign_in, is_dashboard_path, remember_sign_in
from web.dashboard.pages import api, dashboard, page
from web.problems import Problem


def _next_page() -> str:
    """Where to go after signing in: a dashboard path only, never another site."""
    wanted = request.values.get("next", "")
    return (
        wanted if is_dashboard_path(wanted.split("?")[0]) and not wanted.startswith("//") else url_for("dashboard.jobs")
    )


@dashboard.get("/sign-in")
def sign_in_form() -> str:
    return page("sign_in.html", next=_next_page(), email="", problem=None)


@dashboard.post("/sign-in")
def sign_in() -> Response | tuple[str, int]:
    email, password = request.form.get("email", ""), request.form.get("password", "")
    try:
        user_id, issued = tokens.sign_in(email[:320], password[:1024])
    except Problem as problem:
        return page("sign_in.html", next=_next_page(), email=email[:320], problem=problem), problem.status
    remember_sign_in(user_id, issued.session_id)
    return redirect(_next_page(), code=303)


@dashboard.post("/sign-out")
def sign_out() -> Response:
    api(tokens.logout)
    forget_sign_in()
    return redirect(url_for("dashboard.sign_in_form"), code=303)


@dashboard.get("")
def home() -> Response:
    return redirect(url_for("dashboard.jobs"))
