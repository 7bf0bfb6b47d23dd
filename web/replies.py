"""Small helpers the account, key and admin views share: JSON answers, path ids, paging and audit actors."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g, json, request

from config.logging import request_id_var
from smartcompute.accounts.audit import ANONYMOUS, Actor
from smartcompute.accounts.models import User
from smartcompute.numbers import is_whole_number
from web.bodies import NUL_MESSAGE
from web.problems import Problem


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def path_uuid(value: str, what: str) -> uuid.UUID:
    """A malformed id is simply an id that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Problem(404, f"no such {what}", kind="not-found") from None


def query_limit(default: int = 50, maximum: int = 100) -> int:
    raw = request.args.get("limit", str(default))
    if not is_whole_number(raw) or not 1 <= int(raw) <= maximum:
        message = f"must be an integer from 1 to {maximum}"
        raise Problem(422, f"limit {message}", kind="validation-error", errors=[{"field": "limit", "message": message}])
    return int(raw)


def query_text(name: str, max_length: int = 320) -> str | None:
    value = request.args.get(name)
    message = None
    if value is not None and len(value) > max_length:
        message = f"must be at most {max_length} characters"
    elif value is not None and "\x00" in value:
        message = NUL_MESSAGE
    if message:
        raise Problem(422, f"{name} {message}", kind="validation-error", errors=[{"field": name, "message": message}])
    return value or None


def client_address() -> str | None:
    return (request.remote_addr or "")[:64] or None


def actor(proven: User | None = None) -> Actor:
    """The caller as the audit log records them: the signed-in principal; else `proven`, the user this request
    proved to be (a right password, a valid refresh token); else anonymous. Nothing a client sends is an actor."""
    principal = g.get("principal")
    where = {"client_address": client_address(), "request_id": request_id_var.get()}
    if principal is not None:
        return Actor(principal.email or str(principal.user_id), user_id=principal.user_id,
                     api_key_id=principal.api_key_id, **where)
    if proven is not None:
        return Actor(proven.email, user_id=proven.id, **where)
    return Actor(ANONYMOUS, **where)
