"""Who is calling: an `X-API-Key` or an `Authorization: Bearer <JWT>`, resolved on every request."""
from __future__ import annotations

import uuid
from functools import wraps
from typing import Callable

from flask import g, request
from flask_jwt_extended import JWTManager, create_access_token, decode_token
from jwt import PyJWTError
from flask_jwt_extended.exceptions import JWTExtendedException

from smartcompute.accounts.services import Principal, authenticate_api_key, principal_for_user
from web.problems import Problem
from web.runtime import db

jwt = JWTManager()


def issue_access_token(user_id: uuid.UUID) -> str:
    return create_access_token(identity=str(user_id))


def _principal_from_bearer(token: str) -> Principal | None:
    try:
        claims = decode_token(token)
    except (PyJWTError, JWTExtendedException, ValueError):
        return None
    if claims.get("type") != "access":
        return None
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        return None
    # Re-read the user each time so a disabled user or changed role takes effect at once.
    return principal_for_user(db(), user_id)


def current_principal() -> Principal:
    if "principal" in g:
        return g.principal
    api_key = request.headers.get("X-API-Key")
    authorization = request.headers.get("Authorization", "")
    if api_key:
        principal = authenticate_api_key(db(), api_key.strip())
    elif authorization[:7].lower() == "bearer ":
        principal = _principal_from_bearer(authorization[7:].strip())
    else:
        raise Problem(401, "send an X-API-Key header or an Authorization: Bearer token", kind="unauthenticated")
    if principal is None:
        raise Problem(401, "the credentials are invalid, expired or revoked", kind="unauthenticated")
    g.principal = principal
    return principal


def requires(scope: str) -> Callable:
    """Authenticate the caller and check one scope before the view runs."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            principal = current_principal()
            if not principal.can(scope):
                raise Problem(403, f"these credentials lack the {scope} scope", kind="forbidden")
            return view(*args, **kwargs)

        guarded.required_scope = scope
        return guarded

    return decorate
