"""Sign-in: `POST /v1/auth/token` (email and password), `/refresh` (rotates the refresh token) and `/logout`."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, g

from smartcompute.accounts import audit, tokens as chains
from smartcompute.accounts.models import User
from smartcompute.accounts.schemas import LogoutRequest, RefreshRequest, TokenPair
from smartcompute.accounts.services import AccountError, authenticate_password, normalise_email
from smartcompute.db import utcnow
from smartcompute.jobs.schemas import TokenRequest
from web.access import BEARER_OR_NONE, PUBLIC
from web.auth import current_principal, decode, issue_access_token, issue_refresh_token
from web.problems import Problem
from web.replies import actor, client_address
from web.routes import Reply, operation
from web.runtime import db, web_runtime
from web.sign_in_limits import failed_credential

tokens = Blueprint("tokens", __name__, url_prefix="/v1/auth")


def _token_pair(user_id, issued: chains.Issued) -> TokenPair:
    settings = web_runtime().settings
    refresh_lifetime = issued.expires_at - utcnow()
    return TokenPair(
        access_token=issue_access_token(user_id, issued.session_id),
        refresh_token=issue_refresh_token(user_id, issued.session_id, issued.refresh_id, refresh_lifetime),
        token_type="Bearer",
        expires_in=settings.JWT_ACCESS_TOKEN_MINUTES * 60,
        refresh_expires_in=max(1, int(refresh_lifetime.total_seconds())),
    )


def _audit_failed_sign_in(email: str) -> None:
    """By `anonymous`: the email is only what the caller claimed, kept apart (escaped) in the details."""
    session = db()
    try:
        user = session.query(User).filter_by(email=normalise_email(email)).one_or_none()
    except AccountError:
        user = None
    audit.record(
        session,
        actor(),
        "auth.sign_in_failed",
        account_id=user.account_id if user else None,
        target_type="user",
        target_id=user.id if user else None,
        details={"submitted_email": audit.submitted(email)},
    )
    session.commit()


@operation(
    tokens,
    "POST",
    "/token",
    "issueToken",
    "Exchange email and password for an access and a refresh token",
    access=PUBLIC,
    body=TokenRequest,
    responses={200: Reply("Tokens", TokenPair), 401: "Wrong email or password"},
)
def issue_token(body: TokenRequest) -> TokenPair:
    user_id, issued = sign_in(body.email, body.password)
    return _token_pair(user_id, issued)


def sign_in(email: str, password: str) -> tuple[uuid.UUID, chains.Issued]:
    """Check the password and start a sign-in (the API's tokens and the dashboard's cookie both name one);
    a wrong one counts against the sign-in limits (web/sign_in_limits.py) and is audited."""
    session = db()
    user_id = authenticate_password(session, email, password)
    if user_id is None:
        failed_credential()
        _audit_failed_sign_in(email)
        # The same answer whether the email exists or not.
        raise Problem(401, "the email or password is wrong", kind="invalid-credentials")
    user = session.get(User, user_id)
    issued = chains.start_session(
        session, user_id, timedelta(days=web_runtime().settings.JWT_REFRESH_TOKEN_DAYS), client_address()
    )
    audit.record(
        session,
        actor(user),
        "auth.signed_in",
        account_id=user.account_id,
        target_type="user",
        target_id=user_id,
        details={"session_id": str(issued.session_id)},
    )
    session.commit()
    return user_id, issued


@operation(
    tokens,
    "POST",
    "/refresh",
    "refreshToken",
    "Rotate a refresh token (each is usable once; reuse revokes the sign-in)",
    access=PUBLIC,
    body=RefreshRequest,
    responses={200: Reply("New tokens", TokenPair), 401: "Invalid, expired, revoked or reused"},
)
def refresh(body: RefreshRequest) -> TokenPair:
    claims = decode(body.refresh_token, "refresh")
    if claims is None:
        raise Problem(401, "the refresh token is invalid or expired", kind="invalid-refresh-token")
    session = db()
    try:
        issued = chains.rotate(session, _jti(claims), claims["sub"])
    except chains.RefreshTokenReused as reuse:
        user = session.get(User, reuse.user_id)
        audit.record(
            session,
            actor(user),
            "auth.refresh_token_reused",
            account_id=user.account_id if user else None,
            target_type="session",
            target_id=reuse.session_id,
        )
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


@operation(
    tokens,
    "POST",
    "/logout",
    "logout",
    "End the sign-in of this access token (or of the refresh token in the body)",
    access=BEARER_OR_NONE,
    body=LogoutRequest,
    body_required=False,
    responses={204: Reply("Signed out")},
)
def logout(body: LogoutRequest | None = None) -> None:
    """Ends the sign-in at once; without an access token, the refresh token names it."""
    if body is not None and body.refresh_token:
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
        audit.record(
            session,
            actor(user),
            "auth.signed_out",
            account_id=user.account_id,
            target_type="session",
            target_id=session_id,
        )
    session.commit()
    g.pop("principal", None)
