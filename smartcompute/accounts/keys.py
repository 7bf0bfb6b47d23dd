"""The API key lifecycle as users see it: create (shown once), list, revoke, rotate with a grace period.

Owners see and revoke every key of their account; analysts only their own. Another account's key, or a
colleague's for an analyst, is indistinguishable from a key that does not exist. Only a key's holder rotates
it: a rotation hands out a working secret, and one that acts as its holder.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from config.plans import PlanLimits, per_second, rate_limit
from smartcompute.accounts.models import Account, ApiKey
from smartcompute.accounts.services import AccountError, Principal, create_api_key
from smartcompute.db import utcnow


class KeyNotFound(LookupError):
    pass


class KeyConflict(ValueError):
    """The key cannot be rotated or revoked in its current state."""


class TooManyKeys(ValueError):
    """The account has as many keys in use as its plan allows."""


class NotKeyHolder(PermissionError):
    """The caller may see the key (an owner) but not receive a secret that acts as someone else."""


@dataclass(frozen=True)
class NewKey:
    key_id: uuid.UUID
    key: str  # shown once, never stored


def _visible(principal: Principal):
    query = select(ApiKey).where(ApiKey.account_id == principal.account_id)
    if principal.role != "owner":
        query = query.where(ApiKey.user_id == principal.user_id)
    return query


def list_keys(session: Session, principal: Principal) -> list[ApiKey]:
    return list(session.scalars(_visible(principal).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def get_key(session: Session, principal: Principal, key_id: uuid.UUID, *, for_update: bool = False) -> ApiKey:
    query = _visible(principal).where(ApiKey.id == key_id)
    key = session.scalar(query.with_for_update() if for_update else query)
    if key is None:
        raise KeyNotFound(str(key_id))
    return key


def check_scopes(principal: Principal, scopes: list[str]) -> tuple[str, ...]:
    """A key can never do more than the person creating it."""
    beyond = sorted(set(scopes) - set(principal.scopes))
    if beyond:
        raise AccountError(f"you cannot grant scopes you do not hold: {', '.join(beyond)}", field="scopes")
    return tuple(dict.fromkeys(scopes))


def check_rate_limit(plan: PlanLimits, plan_name: str, value: str | None) -> str | None:
    """A key's own rate, which only ever narrows its account's: the plan's rate counts every key together."""
    if value is None:
        return None
    try:
        value = rate_limit(value)
    except ValueError as error:
        raise AccountError(str(error), field="rate_limit") from None
    if per_second(value) >= per_second(plan.requests):
        raise AccountError(
            f"must be below the {plan_name} plan's {plan.requests}, which every key of the account shares",
            field="rate_limit",
        )
    return value


def keys_in_use(session: Session, account_id: uuid.UUID) -> int:
    """Keys that work, or will until a grace period ends: not revoked, not expired and not replaced."""
    return session.execute(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.account_id == account_id,
            ApiKey.revoked_at.is_(None),
            ApiKey.replaced_by_id.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()),
        )
    ).scalar_one()


def create_key(
    session: Session,
    principal: Principal,
    plan: PlanLimits,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    rate_limit: str | None = None,
) -> NewKey:
    """TooManyKeys at the plan's number of keys in use; the account's row is locked while they are counted, so
    concurrent creations cannot both take the last one."""
    if expires_at is not None and expires_at <= utcnow():
        raise AccountError("expires_at must be in the future", field="expires_at")
    own_rate = check_rate_limit(plan, principal.plan, rate_limit)
    session.scalar(select(Account.id).where(Account.id == principal.account_id).with_for_update())
    if keys_in_use(session, principal.account_id) >= plan.api_keys:
        raise TooManyKeys(
            f"the {principal.plan} plan allows {plan.api_keys} API keys in use per account; revoke one first"
        )
    key_id, key = create_api_key(
        session,
        principal.user_id,
        name=name,
        scopes=check_scopes(principal, scopes),
        expires_at=expires_at,
        rate_limit=own_rate,
    )
    return NewKey(key_id, key)


def revoke_key(session: Session, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    key = get_key(session, principal, key_id, for_update=True)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def rotate_key(session: Session, principal: Principal, key_id: uuid.UUID, grace: timedelta) -> tuple[ApiKey, NewKey]:
    """A replacement with the same name and scopes; the old key works for `grace` more, then expires."""
    old = get_key(session, principal, key_id, for_update=True)
    if old.user_id != principal.user_id:
        raise NotKeyHolder("only the key's holder can rotate it; an owner may revoke it")
    now = utcnow()
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise KeyConflict("a revoked or expired key cannot be rotated")
    if old.replaced_by_id is not None:
        raise KeyConflict("this key was already rotated")
    scopes = check_scopes(principal, [scope for scope in old.scopes if scope in principal.scopes] or ["jobs:read"])
    new_id, new_key = create_api_key(
        session, old.user_id, name=old.name, scopes=scopes, expires_at=old.expires_at, rate_limit=old.rate_limit
    )
    old.replaced_by_id = new_id
    old.expires_at = min(old.expires_at, now + grace) if old.expires_at else now + grace
    return old, NewKey(new_id, new_key)


def key_view(key: ApiKey) -> dict[str, Any]:
    stamp = lambda moment: moment.isoformat() if moment else None  # noqa: E731
    return {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "user_id": str(key.user_id),
        "created_at": stamp(key.created_at),
        "last_used_at": stamp(key.last_used_at),
        "expires_at": stamp(key.expires_at),
        "revoked_at": stamp(key.revoked_at),
        "replaced_by": str(key.replaced_by_id) if key.replaced_by_id else None,
        "rate_limit": key.rate_limit,
    }
