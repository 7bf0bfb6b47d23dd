"""Payment-provider webhooks: verify the raw body, then store each provider event exactly once."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from smartcompute.billing.models import WebhookEvent
from smartcompute.db import utcnow


class InvalidSignature(ValueError):
    """The delivery is not from the provider; nothing about it may be stored."""


class InvalidEvent(ValueError):
    """Correctly signed, but not an event we can read."""


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_id: str
    event_type: str | None
    payload: dict[str, Any]


class WebhookProvider(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None: ...

    def parse(self, raw_body: bytes) -> ProviderEvent: ...


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidEvent("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("the body is not a JSON object")
    return payload


class GenericProvider:
    """The seed design's scheme: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`."""

    name = "generic"
    header = "X-Webhook-Signature"

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, raw_body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, raw_body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        given = headers.get(self.header, "")
        if not given:
            raise InvalidSignature(f"the {self.header} header is missing")
        # compare_digest runs in time independent of where the strings differ.
        if not hmac.compare_digest(given.strip().encode(), self.sign(raw_body).encode()):
            raise InvalidSignature(f"the {self.header} header does not match the body")

    def parse(self, raw_body: bytes) -> ProviderEvent:
        payload = _json_object(raw_body)
        event_id = payload.get("id")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
            raise InvalidEvent("the event has no string id")
        event_type = payload.get("type")
        return ProviderEvent(self.name, event_id, event_type if isinstance(event_type, str) else None, payload)


def configured_providers(secrets: Mapping[str, str | None]) -> dict[str, WebhookProvider]:
    """Providers whose secret is set; any other provider name is unknown to the API."""
    providers: dict[str, WebhookProvider] = {}
    if secrets.get("generic"):
        providers["generic"] = GenericProvider(secrets["generic"])
    return providers


def record_event(session: Session, event: ProviderEvent, raw_body: bytes) -> uuid.UUID | None:
    """Store the event and commit; None when this provider event was stored before (a redelivery)."""
    stored_id = session.execute(
        insert(WebhookEvent)
        .values(
            id=uuid.uuid4(), provider=event.provider, event_id=event.event_id, event_type=event.event_type,
            raw_body=raw_body, payload=event.payload, status="received", attempts=0, published_at=utcnow(),
        )
        .on_conflict_do_nothing(constraint="uq_webhook_events_provider_event_id")
        .returning(WebhookEvent.id)
    ).scalar()
    session.commit()
    return stored_id


def mark_unpublished(session: Session, event_id: uuid.UUID) -> None:
    session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(published_at=None))
    session.commit()


def due_for_publishing(
    session: Session, *, unsent_after: timedelta, stale_after: timedelta, limit: int = 500,
) -> list[uuid.UUID]:
    """Stored events never sent to the payment queue (broker was down), or sent long ago and still unprocessed."""
    now = utcnow()
    waiting = or_(
        and_(WebhookEvent.published_at.is_(None), WebhookEvent.received_at < now - unsent_after),
        WebhookEvent.published_at < now - stale_after,
    )
    ids = list(session.scalars(
        select(WebhookEvent.id).where(WebhookEvent.status == "received", waiting)
        .order_by(WebhookEvent.received_at).limit(limit).with_for_update(skip_locked=True)
    ))
    if ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(published_at=now))
    session.commit()
    return ids


def process_event(session: Session, event_id: uuid.UUID) -> bool:
    """Process a stored event once; False when it was processed before. Payment handling grows here."""
    event = session.scalar(select(WebhookEvent).where(WebhookEvent.id == event_id).with_for_update())
    if event is None or event.status == "processed":
        session.rollback()
        return False
    event.status, event.attempts, event.processed_at = "processed", event.attempts + 1, utcnow()
    session.commit()
    return True
