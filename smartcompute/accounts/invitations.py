"""Adding a member: an owner invites an email with a role, and the person accepts with the invitation's token.

An owner's invitation is answered the same way whether or not the email already has a user in another account,
and nothing about other accounts is read to make it, so adding members tells an owner nothing about who uses the
service (a direct creation answered 409 for an email taken elsewhere). Only someone who holds the token, mailed
to that address (or handed over by an operator), learns at acceptance that the email is taken. An email already
a member of the owner's own account is refused at once: the owner can list their members anyway.

The token is 256 random bits, stored only as its SHA-256, valid for INVITATION_DAYS and used once. At most one
invitation is open per account and email: inviting again replaces the token.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcompute.accounts import audit
from smartcompute.accounts.models import ROLES, Account, Invitation, User
from smartcompute.accounts.services import AccountError, create_user, hash_password, normalise_email
from smartcompute.db import utcnow


class AlreadyMember(ValueError):
    """The email is a member of this account already."""


class InvalidInvitation(LookupError):
    """The token is unknown, used, revoked or expired."""


class EmailTaken(ValueError):
    """The invited email has a user already (in another account); only the token's holder is told."""


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str  # shown once: mailed, or printed by the operator's CLI
    account_name: str


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _open(account_id: uuid.UUID):
    return select(Invitation).where(
        Invitation.account_id == account_id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
    )


def invite(
    session: Session, actor: audit.Actor, account_id: uuid.UUID, *, email: str, role: str, lifetime: timedelta
) -> NewInvitation:
    """A new invitation, replacing an open one for the same email; AlreadyMember if the email is a member of
    this account. The caller commits."""
    email = normalise_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", field="role")
    account = session.get_one(Account, account_id, with_for_update=True)  # one invitation at a time per account
    if session.scalar(select(User.id).where(User.account_id == account_id, User.email == email)) is not None:
        raise AlreadyMember(f"{email} is a member of this account already")
    now = utcnow()
    session.execute(
        update(Invitation)
        .where(
            Invitation.account_id == account_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        id=uuid.uuid4(),
        account_id=account_id,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        actor,
        "member.invited",
        account_id=account_id,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": role},
    )
    return NewInvitation(invitation, token, account.name)


def open_invitations(session: Session, account_id: uuid.UUID) -> list[Invitation]:
    return list(
        session.scalars(
            _open(account_id).where(Invitation.expires_at > utcnow()).order_by(Invitation.created_at.desc())
        )
    )


def revoke(session: Session, actor: audit.Actor, account_id: uuid.UUID, invitation_id: uuid.UUID) -> None:
    """InvalidInvitation for one not open in this account. The caller commits."""
    invitation = session.scalar(_open(account_id).where(Invitation.id == invitation_id).with_for_update())
    if invitation is None:
        raise InvalidInvitation(str(invitation_id))
    invitation.revoked_at = utcnow()
    audit.record(
        session,
        actor,
        "member.invitation_revoked",
        account_id=account_id,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email},
    )


def accept(session: Session, token: str, password: str, actor: audit.Actor) -> User:
    """The new member, with the invitation's account and role and this password. InvalidInvitation for a token
    that is unknown, used, revoked or expired; EmailTaken when the email has a user already; AccountError for a
    password too short (the token is not spent). The caller commits."""
    hash_password(password)  # too short: refused before the token is looked at
    invitation = session.scalar(
        select(Invitation)
        .where(
            Invitation.token_hash == _hash(token),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .with_for_update()
    )
    if invitation is None:
        raise InvalidInvitation("unknown")
    taken = EmailTaken(
        f"{invitation.email} already has a SmartCompute user, which belongs to one account: sign "
        "in with it, or ask for an invitation to another address"
    )
    if session.scalar(select(User.id).where(User.email == invitation.email)) is not None:
        raise taken
    try:
        with session.begin_nested():  # the same email accepted elsewhere at this moment: the unique email says so
            user_id = create_user(
                session, invitation.email, password=password, role=invitation.role, account_id=invitation.account_id
            )
    except IntegrityError:
        raise taken from None
    user = session.get_one(User, user_id)
    invitation.accepted_at = utcnow()
    audit.record(
        session,
        audit.Actor(user.email, user_id=user.id, client_address=actor.client_address, request_id=actor.request_id),
        "member.added",
        account_id=invitation.account_id,
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "role": user.role, "invitation": str(invitation.id)},
    )
    return user


def invitation_view(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": str(invitation.id),
        "email": invitation.email,
        "role": invitation.role,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
    }


def invitation_message(new: NewInvitation) -> str:
    invitation = new.invitation
    return (
        f"You are invited to join the SmartCompute account {new.account_name!r} as {invitation.role}.\n\n"
        f"Your invitation token, valid once until {invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n\n    {new.token}\n\n"
        "Accept it with POST /v1/invitations/accept and the body\n"
        '    {"token": "<the token>", "password": "<12 characters or more>"}\n'
    )
