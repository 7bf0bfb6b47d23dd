"""The dashboard's blueprint and what every page shares: who may see it, calling the API's own operations,
rendering, and the answers to refused requests.

Each action calls the API operation that does the same thing (its access check first, then its view), so the
dashboard and the API cannot disagree on a rule, an audit record or a limit: a Problem the operation raises is
shown to the person as a page or beside the form.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from markupsafe import Markup
from werkzeug.wrappers import Response

from smartcompute.accounts.services import Principal
from web.dashboard.cookies import CSRF_FIELD, csrf_is_valid, csrf_token, signed_in_ids
from web.problems import Problem
from web.routes import Answer, operation_of

dashboard = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/app",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
# Dashboard pages load their own scripts, styles and inline SVG, and post forms to themselves; nothing else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_OPEN_ENDPOINTS = {"dashboard.static", "dashboard.sign_in_form", "dashboard.sign_in"}
_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def principal() -> Principal:
    return g.principal


def check_access(view: Callable) -> None:
    """The access check of the API operation `view`, for a page that reads what that operation reads."""
    described = operation_of(view)
    if described is None:
        raise TypeError(f"{view.__name__} is not an API operation")
    described.access.check()


def api(view: Callable, **given: Any) -> Any:
    """Run an API operation's access check and view, returning its model (the body of an Answer)."""
    check_access(view)
    result = view.__wrapped__(**given)  # the view itself, inside its operation's wrapper
    return result.body if isinstance(result, Answer) else result


def page(template: str, **context: Any) -> str:
    return render_template(f"dashboard/{template}", **context)


def back(endpoint: str, **values: Any) -> Response:
    """After a form's action: the page again (POST, redirect, GET), so a reload does not repeat it."""
    return redirect(url_for(endpoint, **values), code=303)


@dashboard.before_request
def _signed_in_and_same_origin() -> Response | None:
    """Every page needs the cookie's sign-in; every state-changing request its CSRF token."""
    if request.method in _UNSAFE_METHODS and not csrf_is_valid():
        raise Problem(
            403,
            "the form's security token is missing or out of date; reload the page and try again",
            kind="csrf-token-invalid",
        )
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    ids = signed_in_ids()
    if g.get("principal") is None or ids is None or g.principal.session_id != ids[1]:
        return redirect(url_for("dashboard.sign_in_form", next=request.full_path.rstrip("?")), code=303)
    return None


@dashboard.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    return response


dashboard.add_app_template_global(csrf_token)


@dashboard.app_template_global()
def csrf_field() -> Markup:
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{csrf_token()}">')


@dashboard.app_template_global()
def can(scope: str) -> bool:
    found = g.get("principal")
    return found is not None and found.can(scope)


@dashboard.app_template_global()
def is_staff() -> bool:
    found = g.get("principal")
    return found is not None and found.is_staff


def _refused(problem: Problem) -> tuple[str, int, dict[str, str]]:
    return page("problem.html", problem=problem), problem.status, problem.headers


def _too_many(error: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    """The API's limits, answered as a page; the wait is at most the limit's window."""
    window = error.limit.limit.get_expiry()
    return _refused(
        Problem(
            429,
            f"too many requests ({error.limit.limit}); try again within {window} seconds",
            kind="rate-limited",
            headers={"Retry-After": str(window)},
        )
    )


dashboard.register_error_handler(Problem, _refused)
dashboard.register_error_handler(RateLimitExceeded, _too_many)
