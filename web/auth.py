"""Who is calling: an `X-API-Key` or an `Authorization: Bearer <JWT>`, resolved once per request.

The dashboard's pages (`/app`) are the one place a caller is known by a cookie instead (web/dashboard/).
`resolve_principal` runs before every request (before the rate limiter, which keys on the result); views
ask `current_principal()`, and each operation's declared access (web/access.py) is checked before its view. Everything is re-read from PostgreSQL each time, so disabling a user, changing a role,
revoking a key or logging out takes effect on the next request.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, UTC

import jwt
from flask import g, request

from smartcompute.accounts.services import Principal, authenticate_api_key, principal_for_user
from web.dashboard.cookies import signed_in_ids
from web.problems import Problem
from web.runtime import statement_db, web_runtime

_MISSING = "send an X-API-Key header or an Authorization: Bearer token"
_INVALID = "the credentials are invalid, expired or revoked"
# HS256 only: a token naming any other algorithm, "none" included, is refused before its signature is checked.
_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "type"]


def _signed(claims: dict, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    return jwt.encode(
        {**claims, "iat": now, "nbf": now, "exp": now + lifetime},
        web_runtime().settings.JWT_SECRET_KEY,
        algorithm=_ALGORITHM,
    )


def issue_access_token(user_id: uuid.UUID, session_id: uuid.UUID, lifetime: timedelta | None = None) -> str:
    """A bearer token for the sign-in `session_id`; it lives JWT_ACCESS_TOKEN_MINUTES unless told otherwise."""
    if lifetime is None:
        lifetime = timedelta(minutes=web_runtime().settings.JWT_ACCESS_TOKEN_MINUTES)
    return _signed({"sub": str(user_id), "sid": str(session_id), "type": "access", "jti": str(uuid.uuid4())}, lifetime)


def issue_refresh_token(user_id: uuid.UUID, session_id: uuid.UUID, refresh_id: uuid.UUID, lifetime: timedelta) -> str:
    """Its `jti` is the refresh row's id, which rotation marks used (smartcompute/accounts/tokens.py)."""
    return _signed({"sub": str(user_id), "sid": str(session_id), "type": "refresh", "jti": str(refresh_id)}, lifetime)


def decode(token: str, expected_type: str) -> dict | None:
    """Verified claims (HS256, signature, expiry, every claim we rely on, the token's type), or None."""
    try:
        claims = jwt.decode(
            token, web_runtime().settings.JWT_SECRET_KEY, algorithms=[_ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except (jwt.PyJWTError, ValueError):
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
        g.principal = _principal_from_cookie()


def _principal_from_cookie() -> Principal | None:
    """The dashboard's sign-in; only `/app` requests have a cookie session (web/dashboard/cookies.py)."""
    signed_in = signed_in_ids()
    return principal_for_user(statement_db(), *signed_in) if signed_in else None


def current_principal() -> Principal:
    if "principal" not in g:
        resolve_principal()
    if g.principal is None:
        raise Problem(401, _INVALID if g.get("credentials_sent") else _MISSING, kind="unauthenticated")
    return g.principal
