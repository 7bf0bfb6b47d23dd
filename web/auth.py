"""Who is calling: an `X-API-Key` or an `Authorization: Bearer <JWT>`, resolved once per request.

`resolve_principal` runs before every request (before the rate limiter, which keys on the result); views
then ask `current_principal()` or guard themselves with `requires(scope)`, `requires_user` or
`requires_staff`. Everything is re-read from PostgreSQL each time, so disabling a user, changing a role,
revoking a key or logging out takes effect on the next request.
"""
from __future__ import annotations

import uuid
from functools import wraps
from typing import Callable

import jwt as pyjwt
from flask import current_app, g, request
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token

from smartcompute.accounts.services import Principal, authenticate_api_key, principal_for_user
from web.problems import Problem
from web.runtime import statement_db

jwt = JWTManager()
_MISSING = "send an X-API-Key header or an Authorization: Bearer token"
_INVALID = "the credentials are invalid, expired or revoked"


def issue_access_token(user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return create_access_token(identity=str(user_id), additional_claims={"sid": str(session_id)})


def issue_refresh_token(user_id: uuid.UUID, session_id: uuid.UUID, refresh_id: uuid.UUID, lifetime) -> str:
    return create_refresh_token(identity=str(user_id), expires_delta=lifetime,
                                additional_claims={"sid": str(session_id), "jti": str(refresh_id)})


_REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "type"]


def decode(token: str, expected_type: str) -> dict | None:
    """Verified claims (HS256 only, signature, expiry, type), or None.

    flask-jwt-extended issues the tokens; they are verified here with one PyJWT pass under the same key and
    algorithm list, because its `decode_token` parses every token twice (once unverified) and this runs on
    every request."""
    try:
        claims = pyjwt.decode(token, current_app.config["JWT_SECRET_KEY"],
                              algorithms=current_app.config["JWT_DECODE_ALGORITHMS"],
                              options={"require": _REQUIRED_CLAIMS})
    except (pyjwt.PyJWTError, ValueError):
        return None
    if claims.get("type") != expected_type:
        return None
    try:
        claims["sub"], claims["sid"] = uuid.UUID(str(claims.get("sub"))), uuid.UUID(str(claims.get("sid")))
    except ValueError:
        return None
    return claims


def _principal_from_bearer(token: str) -> Principal | None:
    claims = decode(token, "access")
    return principal_for_user(statement_db(), claims["sub"], claims["sid"]) if claims else None


def _bearer_token() -> str | None:
    authorization = request.headers.get("Authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None


def resolve_principal() -> None:
    """Before each request: `g.principal` is the caller, or None (no or bad credentials)."""
    api_key, token = request.headers.get("X-API-Key"), _bearer_token()
    g.credentials_sent = bool(api_key or token)
    if api_key:
        g.principal = authenticate_api_key(statement_db(), api_key.strip())
    elif token:
        g.principal = _principal_from_bearer(token)
    else:
        g.principal = None


def current_principal() -> Principal:
    if "principal" not in g:
        resolve_principal()
    if g.principal is None:
        raise Problem(401, _INVALID if g.get("credentials_sent") else _MISSING, kind="unauthenticated")
    return g.principal


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


def requires_user(view: Callable) -> Callable:
    """A signed-in user (JWT), not an API key: for acting on the sign-in itself."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if current_principal().session_id is None:
            raise Problem(403, "sign in with email and password (a JWT) for this; API keys cannot", kind="forbidden")
        return view(*args, **kwargs)

    return guarded


def requires_staff(view: Callable) -> Callable:
    """Platform staff, signed in with a JWT. API keys never carry staff powers."""

    @wraps(view)
    def guarded(*args, **kwargs):
        principal = current_principal()
        if not principal.is_staff or principal.session_id is None:
            raise Problem(403, "this is for platform staff, signed in with a JWT", kind="forbidden")
        return view(*args, **kwargs)

    return guarded
