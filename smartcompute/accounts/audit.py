"""The audit log: who did what, when and from where. Owners read their account's events, staff all of them.

The actor is who the service knows acted: a user (by their stored email), `cli:<operator>`, `system:<part>`,
or `anonymous`. Nothing a client sends becomes an actor: what an unauthenticated caller claimed (the email of a
failed sign-in) is kept in the event's details, with its control characters escaped, and every view of the log
escapes what it shows (`shown`), so a stored value cannot become markup in a browser or commands in a terminal.
"""

from __future__ import annotations

import html
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from smartcompute import pagination
from smartcompute.accounts.models import AuditEvent
from smartcompute.db import Database, new_id, utcnow

ANONYMOUS = "anonymous"
MAX_SUBMITTED_LENGTH = 320


@dataclass(frozen=True)
class Actor:
    """Who acts and from where; built by the web layer from the principal, or by the CLI for an operator."""

    label: str  # a user's stored email, "cli:<operator>", "system:<part>" or "anonymous"
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    client_address: str | None = None
    request_id: str | None = None


def record(
    db: Database,
    actor: Actor,
    action: str,
    *,
    account_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an event to the caller's transaction: it commits (or rolls back) with the change it describes. On a
    Session it is flushed with the ORM changes it may refer to; on a Connection it is one INSERT."""
    event = dict(
        id=new_id(),
        occurred_at=utcnow(),
        account_id=account_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        actor=actor.label[:320],
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        client_address=actor.client_address,
        request_id=actor.request_id,
        details=details or {},
    )
    if isinstance(db, Session):
        db.add(AuditEvent(**event))
    else:
        db.execute(insert(AuditEvent), event)


def list_events(
    session: Session,
    *,
    account_id: uuid.UUID | None,
    action: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """Newest first. `account_id=None` means every account (staff only; the caller decides)."""
    query = select(AuditEvent)
    if account_id is not None:
        query = query.where(AuditEvent.account_id == account_id)
    if action:
        query = query.where(AuditEvent.action == action)
    return pagination.newest_first(session, query, AuditEvent.occurred_at, AuditEvent.id, limit=limit, cursor=cursor)


def _escaped_controls(text: str) -> str:
    # Control and format characters (terminal escapes, bidirectional overrides, NUL) as \uXXXX.
    return "".join(
        f"\\u{ord(character):04x}" if unicodedata.category(character) in ("Cc", "Cf") else character
        for character in text
    )


def submitted(value: Any) -> str:
    """What an unauthenticated caller sent, as the log keeps it: text, cut short, control characters escaped."""
    return _escaped_controls(str(value)[:MAX_SUBMITTED_LENGTH])


def shown(value: Any) -> Any:
    """A stored value as every view of the log shows it: HTML's special characters as entities and control
    characters escaped, in every string of it (keys included)."""
    if isinstance(value, str):
        return html.escape(_escaped_controls(value), quote=True)
    if isinstance(value, dict):
        return {shown(key): shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shown(item) for item in value]
    return value


def event_view(event: AuditEvent) -> dict[str, Any]:
    return shown(
        {
            "id": str(event.id),
            "occurred_at": event.occurred_at.isoformat(),
            "account_id": str(event.account_id) if event.account_id else None,
            "actor": event.actor,
            "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
            "actor_api_key_id": str(event.actor_api_key_id) if event.actor_api_key_id else None,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "client_address": event.client_address,
            "request_id": event.request_id,
            "details": event.details,
        }
    )
