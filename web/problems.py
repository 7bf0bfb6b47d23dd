"""RFC 9457 problem details: the API's one error format, for every error, never with a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from smartcompute.pagination import InvalidCursor

log = logging.getLogger("smartcompute.web")
PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        members: dict[str, Any] | None = None,
    ):
        """`members`: extension members (RFC 9457, section 3.2) beside the standard ones."""
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}
        self.members = members or {}
        self.kind = kind or _TITLES.get(status, "error").lower().replace(" ", "-")


def internal_error() -> Problem:
    """What a client is told of an unexpected error: nothing but that it was logged."""
    return Problem(500, "an unexpected error occurred; it was logged", kind="internal-error")


def title_of(status: int) -> str:
    return _TITLES.get(status, "Error")


def problem_document(problem: Problem, instance: str | None) -> dict:
    """The RFC 9457 members; `instance`, the request's path, is None where there is no request to name."""
    body = {
        "type": f"/problems/{problem.kind}",
        "title": title_of(problem.status),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance is not None:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.members)
    return body


def problem_response(problem: Problem) -> Response:
    response = Response(
        json.dumps(problem_document(problem, request.path)), status=problem.status, mimetype=PROBLEM_JSON
    )
    response.headers.update(problem.headers)
    if problem.status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="smartcompute", ApiKey header="X-API-Key"')
    return response


def field_errors(error: ValidationError, *, most: int | None = None) -> list[dict[str, str]]:
    return [
        {"field": field_path(item["loc"]), "message": item["msg"]} for item in error.errors(include_url=False)[:most]
    ]


def field_path(location: tuple) -> str:
    """`data.metrics.cpu[3]`: names joined with dots, list positions in brackets, as the telemetry checks name them
    (and `[key]` after an object member whose name itself is wrong, as pydantic says it)."""
    path = "".join(
        f"[{part}]" if isinstance(part, int) else part if part == "[key]" else f".{part}" for part in location
    ).removeprefix(".")
    return path or "(body)"


def _from_http_exception(error: HTTPException) -> Response:
    details = {
        404: "no such resource",
        405: f"{request.method} is not allowed here",
        413: "the request body is larger than this API accepts",
    }
    problem = Problem(error.code or 500, details.get(error.code, error.description or ""))
    response = problem_response(problem)
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


_QUERY_CANCELED = "57014"  # SQLSTATE: DATABASE_STATEMENT_TIMEOUT ran out, most often waiting on a lock


def _from_database_error(error: Exception) -> Response:
    timed_out = getattr(getattr(error, "orig", None), "pgcode", None) == _QUERY_CANCELED
    log.error("database statement timed out" if timed_out else "database unavailable", exc_info=error)
    detail = "the database did not answer in time" if timed_out else "the database is unavailable"
    return problem_response(
        Problem(503, f"{detail}; try again shortly", kind="dependency-unavailable", headers={"Retry-After": "5"})
    )


def _from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem_response(internal_error())


def _from_invalid_cursor(error: InvalidCursor) -> Response:
    return problem_response(
        Problem(422, str(error), kind="validation-error", errors=[{"field": "cursor", "message": str(error)}])
    )


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, problem_response)
    app.register_error_handler(InvalidCursor, _from_invalid_cursor)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(OperationalError, _from_database_error)
    app.register_error_handler(InterfaceError, _from_database_error)
    app.register_error_handler(Exception, _from_unexpected)
