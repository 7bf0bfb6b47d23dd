"""Changing who may do what: members' roles and access, accounts' plans. Used by owners (within their
account), by staff through the admin API, and by operators through the CLI. Every change is audited. (Members
join by invitation: smartcompute/accounts/invitations.py.)"""

from __future__ import annotations

import uuid
from typing import Any
from collections.abc import Iterable

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from smartcompute.accounts import audit, tokens
from smartcompute.accounts.models import ROLES, Account, ApiKey, User
from smartcompute.accounts.services import AccountError
from smartcompute.db import utcnow

MAX_RESULTS = 100


class NotFound(LookupError):
    pass


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_user(session: Session, user_id: uuid.UUID, *, account_id: uuid.UUID | None = None) -> User:
    """`account_id` confines the lookup to one account (an owner's view); None is staff's view of all."""
    user = session.get(User, user_id)
    if user is None or (account_id is not None and user.account_id != account_id):
        raise NotFound("no such user")
    return user


def search_users(
    session: Session, *, query: str | None = None, account_id: uuid.UUID | None = None, limit: int = 50
) -> list[User]:
    statement = select(User)
    if account_id is not None:
        statement = statement.where(User.account_id == account_id)
    if query:
        statement = statement.where(User.email.ilike(_like(query.lower())))
    return list(session.scalars(statement.order_by(User.email).limit(max(1, min(limit, MAX_RESULTS)))))


def search_accounts(session: Session, *, query: str | None = None, limit: int = 50) -> list[tuple[Account, int]]:
    members = select(func.count()).select_from(User).where(User.account_id == Account.id).scalar_subquery()
    statement = select(Account, members)
    if query:
        owner_match = select(User.id).where(User.account_id == Account.id, User.email.ilike(_like(query.lower())))
        statement = statement.where(or_(Account.name.ilike(_like(query)), owner_match.exists()))
    rows = session.execute(statement.order_by(Account.created_at.desc()).limit(max(1, min(limit, MAX_RESULTS))))
    return [(account, count) for account, count in rows]


def member_count(session: Session, account_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.account_id == account_id)) or 0


def _owners_left(session: Session, account_id: uuid.UUID, without: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.account_id == account_id, User.role == "owner", User.is_active, User.id != without)
        )
        or 0
    )


def update_user(
    session: Session, actor: audit.Actor, user: User, *, role: str | None = None, is_active: bool | None = None
) -> User:
    """Change a role or enable/disable; takes effect on the user's next request. Disabling revokes the user's
    sign-ins and API keys for good: enabling them again gives back neither. The caller commits."""
    if role is not None and role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    demoting = role is not None and role != "owner" and user.role == "owner"
    if (
        (demoting or (is_active is False and user.role == "owner"))
        and user.is_active
        and _owners_left(session, user.account_id, user.id) == 0
    ):
        raise AccountError("an account must keep at least one active owner")
    changes: dict[str, Any] = {}
    revoked: dict[str, int] = {}  # what disabling ended, for its audit event
    if role is not None and role != user.role:
        changes["role"] = {"from": user.role, "to": role}
        user.role = role
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = {"from": user.is_active, "to": is_active}
        user.is_active = is_active
        if not is_active:
            revoked = {
                "sessions_revoked": tokens.revoke_all_sessions(session, user.id, "user-disabled"),
                "api_keys_revoked": _revoke_keys(session, user.id),
            }
    for name, change in changes.items():
        action = "user.role_changed" if name == "role" else ("user.enabled" if change["to"] else "user.disabled")
        audit.record(
            session,
            actor,
            action,
            account_id=user.account_id,
            target_type="user",
            target_id=user.id,
            details={"email": user.email, **change, **(revoked if action == "user.disabled" else {})},
        )
    return user


def _revoke_keys(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(
        update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    assert isinstance(result, CursorResult)  # an UPDATE's result; Session.execute is typed as the base Result
    return result.rowcount


def set_plan(session: Session, actor: audit.Actor, account_id: uuid.UUID, plan: str, plans: Iterable[str]) -> Account:
    if plan not in plans:
        raise AccountError(f"plan must be one of {', '.join(plans)}")
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    if account.plan != plan:
        audit.record(
            session,
            actor,
            "account.plan_changed",
            account_id=account.id,
            target_type="account",
            target_id=account.id,
            details={"from": account.plan, "to": plan},
        )
        account.plan = plan
    return account


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "account_id": str(user.account_id),
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "created_at": user.created_at.isoformat(),
    }


def account_view(account: Account, members: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(account.id),
        "name": account.name,
        "plan": account.plan,
        "created_at": account.created_at.isoformat(),
    }
    if members is not None:
        view["members"] = members
    return view
