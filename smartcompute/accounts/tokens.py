"""Sign-in sessions and their refresh-token chains.

A sign-in opens an `AuthSession`; each refresh token is one row, exchangeable once. Exchanging it marks it
used and issues the next one. Presenting a used token again means it was copied: the whole session is
revoked, so both the thief's and the user's tokens stop working. Access tokens carry the session id, and
every request checks the session is live, so logout and revocation take effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from smartcompute.accounts.models import AuthSession, RefreshToken, User
from smartcompute.db import utcnow


class InvalidRefreshToken(ValueError):
    """Unknown, expired, revoked, or not this user's."""


class RefreshTokenReused(InvalidRefreshToken):
    """A refresh token that was already exchanged: its whole chain has been revoked."""

    def __init__(self, session_id: uuid.UUID, user_id: uuid.UUID):
        super().__init__("this refresh token was already used; the sign-in has been revoked")
        self.session_id, self.user_id = session_id, user_id


@dataclass(frozen=True)
class Issued:
    session_id: uuid.UUID
    refresh_id: uuid.UUID  # the refresh token's JWT id
    expires_at: datetime  # when the session (and so its last refresh token) ends


def start_session(
    session: Session, user_id: uuid.UUID, lifetime: timedelta, client_address: str | None = None
) -> Issued:
    now = utcnow()
    auth = AuthSession(
        id=uuid.uuid4(), user_id=user_id, created_at=now, expires_at=now + lifetime, client_address=client_address
    )
    token = RefreshToken(id=uuid.uuid4(), session_id=auth.id, issued_at=now)
    session.add(auth)
    session.flush()
    session.add(token)
    session.flush()
    return Issued(auth.id, token.id, auth.expires_at)


def rotate(session: Session, refresh_id: uuid.UUID, user_id: uuid.UUID) -> Issued:
    """Exchange a refresh token for the next one of its chain. Commits, including a revocation on reuse."""
    row = session.execute(
        select(RefreshToken, AuthSession, User.is_active)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .join(User, User.id == AuthSession.user_id)
        .where(RefreshToken.id == refresh_id)
        .with_for_update(of=RefreshToken)  # two concurrent exchanges of one token: the second sees it used
    ).first()
    now = utcnow()
    if row is None or row.AuthSession.user_id != user_id:
        raise InvalidRefreshToken("unknown refresh token")
    token, auth, is_active = row
    if auth.revoked_at is not None or auth.expires_at <= now or not is_active:
        session.rollback()
        raise InvalidRefreshToken("this sign-in has ended")
    if token.used_at is not None:
        _revoke(session, auth.id, "refresh-token-reused")
        session.commit()
        raise RefreshTokenReused(auth.id, user_id)
    token.used_at = now
    successor = RefreshToken(id=uuid.uuid4(), session_id=auth.id, issued_at=now)
    session.add(successor)
    session.commit()
    return Issued(auth.id, successor.id, auth.expires_at)


def _revoke(session: Session, session_id: uuid.UUID, reason: str) -> bool:
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    assert isinstance(result, CursorResult)  # an UPDATE's result; Session.execute is typed as the base Result
    return result.rowcount > 0


def revoke_session(session: Session, session_id: uuid.UUID, user_id: uuid.UUID, reason: str = "logout") -> bool:
    """End one sign-in of this user (the caller commits). False if it was already ended or is not theirs."""
    owned = session.scalar(select(AuthSession.id).where(AuthSession.id == session_id, AuthSession.user_id == user_id))
    return owned is not None and _revoke(session, session_id, reason)


def revoke_all_sessions(session: Session, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None) -> int:
    """End every sign-in of a user (disabling them, for one) but `keep`; the caller commits."""
    statement = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    result = session.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))
    assert isinstance(result, CursorResult)  # an UPDATE's result; Session.execute is typed as the base Result
    return result.rowcount
