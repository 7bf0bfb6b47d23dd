"""Changing a password (the current one required) and resetting a forgotten one with a single-use token.

A change ends every other sign-in of the user (their refresh chains included), keeping the one that made it; a
reset ends them all. Either way any reset token still outstanding stops working. A reset token is 256 random
bits, shown once (mailed, or printed by the operator's CLI), stored only as its SHA-256, valid for
PASSWORD_RESET_MINUTES and used at most once: consuming it is one conditional UPDATE, so two uses at once
cannot both succeed. Only the newest token of a user works.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smartcompute.accounts import tokens
from smartcompute.accounts.models import PasswordReset, User
from smartcompute.accounts.services import AccountError, hash_password, normalise_email, password_matches
from smartcompute.db import utcnow


@dataclass(frozen=True)
class ResetToken:
    user: User
    token: str  # shown once, never stored
    expires_at: datetime


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def change_password(
    session: Session, user_id: uuid.UUID, current: str, new: str, *, keep_session: uuid.UUID | None
) -> bool:
    """False when `current` is wrong (nothing changes); AccountError for a new password too short. The caller
    commits."""
    user = session.get(User, user_id, with_for_update=True)
    if user is None or not password_matches(user.password_hash, current):
        return False
    user.password_hash = hash_password(new)
    tokens.revoke_all_sessions(session, user.id, "password-changed", keep=keep_session)
    _end_resets(session, user.id)
    return True


def start_reset(session: Session, email: str, lifetime: timedelta, requested_from: str | None) -> ResetToken | None:
    """A new token for the active user with this email (earlier ones stop working); None when there is no such
    user, which the caller answers exactly as the other case. The caller commits."""
    try:
        user = session.scalar(select(User).where(User.email == normalise_email(email), User.is_active))
    except AccountError:
        return None
    if user is None:
        return None
    _end_resets(session, user.id)
    token, now = secrets.token_urlsafe(32), utcnow()
    session.add(
        PasswordReset(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + lifetime,
            requested_from=(requested_from or "")[:64] or None,
        )
    )
    return ResetToken(user, token, now + lifetime)


def finish_reset(session: Session, token: str, new_password: str) -> User | None:
    """Set the password of the token's user and end every sign-in; None for a token that is unknown, used,
    expired or whose user is disabled (nothing changes). AccountError for a password too short, before the
    token is spent. The caller commits."""
    new_hash = hash_password(new_password)
    now = utcnow()
    user_id = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.token_hash == token_hash(token),
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordReset.user_id)
    ).scalar()
    user = session.get(User, user_id, with_for_update=True) if user_id else None
    if user is None or not user.is_active:
        session.rollback()
        return None
    user.password_hash = new_hash
    tokens.revoke_all_sessions(session, user.id, "password-reset")
    _end_resets(session, user.id)
    return user


def _end_resets(session: Session, user_id: uuid.UUID) -> None:
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
    )
