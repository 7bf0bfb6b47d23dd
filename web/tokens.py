"""Sign-in: `POST /v1/auth/token` (email and password), `/refresh` (rotates the refresh token) and `/logout`."""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, Response, g, request

from smartcompute.accounts import audit, tokens as chains
from smartcompute.accounts.models import User
from smartcompute.accounts.schemas import LogoutRequest, RefreshRequest
from smartcompute.accounts.services import AccountError, authenticate_password, normalise_email
from smartcompute.db import utcnow
from smartcompute.jobs.schemas import TokenRequest
from web.auth import current_principal, decode, issue_access_token, issue_refresh_token
from web.bodies import read_json
from web.problems import Problem
from web.replies import actor, client_address, json_response
from web.runtime import db, web_runtime
from web.sign_in_limits import failed_credential

tokens = Blueprint("tokens", __name__, url_prefix="/v1/auth")
_NO_STORE = {"Cache-Control": "no-store"}


def _token_pair(user_id, issued: chains.Issued) -> Response:
    settings = web_runtime().settings
    refresh_lifetime = issued.expires_at - utcnow()
    body = {
        "access_token": issue_access_token(user_id, issued.session_id),
        "refresh_token": issue_refresh_token(user_id, issued.session_id, issued.refresh_id, refresh_lifetime),
        "token_type": "Bearer", "expires_in": settings.JWT_ACCESS_TOKEN_MINUTES * 60,
        "refresh_expires_in": max(1, int(refresh_lifetime.total_seconds())),
    }
    return json_response(body, headers=_NO_STORE)


def _audit_failed_sign_in(email: str) -> None:
    """By `anonymous`: the email is only what the caller claimed, kept apart (escaped) in the details."""
    session = db()
    try:
        user = session.query(User).filter_by(email=normalise_email(email)).one_or_none()
    except AccountError:
        user = None
    audit.record(session, actor(), "auth.sign_in_failed", account_id=user.account_id if user else None,
                 target_type="user", target_id=user.id if user else None,
                 details={"submitted_email": audit.submitted(email)})
    session.commit()


@tokens.post("/token")
def issue_token():
    credentials = read_json(TokenRequest)
    session = db()
    user_id = authenticate_password(session, credentials.email, credentials.password)
    if user_id is None:
        failed_credential()
        _audit_failed_sign_in(credentials.email)
        # The same answer whether the email exists or not.
        raise Problem(401, "the email or password is wrong", kind="invalid-credentials")
    user = session.get(User, user_id)
    issued = chains.start_session(session, user_id, timedelta(days=web_runtime().settings.JWT_REFRESH_TOKEN_DAYS),
                                  client_address())
    audit.record(session, actor(user), "auth.signed_in", account_id=user.account_id, target_type="user",
                 target_id=user_id, details={"session_id": str(issued.session_id)})
    session.commit()
    return _token_pair(user_id, issued)


@tokens.post("/refresh")
def refresh():
    body = read_json(RefreshRequest)
    claims = decode(body.refresh_token, "refresh")
    if claims is None:
        raise Problem(401, "the refresh token is invalid or expired", kind="invalid-refresh-token")
    session = db()
    try:
        issued = chains.rotate(session, _jti(claims), claims["sub"])
    except chains.RefreshTokenReused as reuse:
        user = session.get(User, reuse.user_id)
        audit.record(session, actor(user), "auth.refresh_token_reused",
                     account_id=user.account_id if user else None, target_type="session", target_id=reuse.session_id)
        session.commit()
        raise Problem(401, str(reuse), kind="refresh-token-reused") from None
    except chains.InvalidRefreshToken:
        raise Problem(401, "the refresh token is invalid, expired or revoked", kind="invalid-refresh-token") from None
    return _token_pair(claims["sub"], issued)


def _jti(claims: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims.get("jti")))
    except ValueError:
        raise Problem(401, "the refresh token is invalid or expired", kind="invalid-refresh-token") from None


@tokens.post("/logout")
def logout():
    """Ends the sign-in of the access token sent (or of the refresh token in the body) at once."""
    body = read_json(LogoutRequest) if _has_body() else LogoutRequest()
    if body.refresh_token:
        claims = decode(body.refresh_token, "refresh")
        if claims is None:
            raise Problem(401, "the refresh token is invalid or expired", kind="invalid-refresh-token")
        user_id, session_id = claims["sub"], claims["sid"]
    else:
        principal = current_principal()
        if principal.session_id is None:
            raise Problem(403, "API keys do not sign in; revoke the key instead", kind="forbidden")
        user_id, session_id = principal.user_id, principal.session_id
    session = db()
    if chains.revoke_session(session, session_id, user_id):
        user = session.get(User, user_id)
        audit.record(session, actor(user), "auth.signed_out", account_id=user.account_id,
                     target_type="session", target_id=session_id)
    session.commit()
    g.pop("principal", None)
    return Response(status=204)


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.get_data(cache=True))
