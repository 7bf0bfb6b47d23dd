"""The web dashboard at `/app`: server-rendered pages over the API's own operations, signed in with a cookie.

`init_dashboard(app)` registers it; the pages live in this package's modules, their templates and static files
beside them. The API itself stays cookieless (web/dashboard/cookies.py).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, redirect
from werkzeug.wrappers import Response

from config import Settings


def init_dashboard(app: Flask, settings: Settings) -> None:
    from web.dashboard import account, jobs, live, people, sign_in, submit  # noqa: F401  (they add the pages)
    from web.dashboard.cookies import DashboardCookieSession
    from web.dashboard.filters import register_filters
    from web.dashboard.pages import dashboard

    app.session_interface = DashboardCookieSession()
    # The cookie lives as long as the sign-in it names (which PostgreSQL ends at the same time).
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=settings.JWT_REFRESH_TOKEN_DAYS)
    register_filters(app)
    app.register_blueprint(dashboard)
    app.add_url_rule("/", "home", _to_dashboard)


def _to_dashboard() -> Response:
    return redirect("/app")
