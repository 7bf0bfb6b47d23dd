"""Small helpers views share: path ids, the client's address and the caller as the audit log names them."""

from __future__ import annotations

import uuid

from flask import g, request

from config.logging import request_id_var
from smartcompute.accounts.audit import ANONYMOUS, Actor
from smartcompute.accounts.models import User
from web.problems import Problem


def path_uuid(value: str, what: str) -> uuid.UUID:
    """A malformed id is simply an id that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Problem(404, f"no such {what}", kind="not-found") from None


def client_address() -> str | None:
    return (request.remote_addr or "")[:64] or None


def actor(proven: User | None = None) -> Actor:
    """The caller as the audit log records them: the signed-in principal; else `proven`, the user this request
    proved to be (a right password, a valid refresh token); else anonymous. Nothing a client sends is an actor."""
    principal = g.get("principal")
    where = {"client_address": client_address(), "request_id": request_id_var.get()}
    if principal is not None:
        return Actor(
            principal.email or str(principal.user_id),
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            **where,
        )
    if proven is not None:
        return Actor(proven.email, user_id=proven.id, **where)
    return Actor(ANONYMOUS, **where)
