"""Payment-provider webhook events: store each verified delivery once, process it once, dead-letter what keeps
failing. Verification and normalisation live in `billing/providers/`; payment state in `billing/payments.py`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import LargeBinary, Uuid, and_, bindparam, column, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from smartcompute import jsoncodec, pagination
from smartcompute.billing import payments
from smartcompute.billing.models import Payment, WebhookEvent
from smartcompute.billing.providers import (  # noqa: F401  (re-exported: the API's names for them)
    InvalidEvent,
    InvalidSignature,
    ProviderEvent,
    WebhookProvider,
    configured_providers,
)
from smartcompute.billing.providers.generic import GenericProvider  # noqa: F401
from smartcompute.db import Database, connection_of, storable, utcnow

MAX_ERROR_LENGTH = 2000


class EventNotFound(LookupError):
    pass


# Text, so SQLAlchemy compiles it once (it never caches its PostgreSQL insert(), which ON CONFLICT needs); its
# column given by position, so the way to read the RETURNING row is cached too (by name it is rebuilt per call).
_INSERT_EVENT = (
    text("""
    INSERT INTO webhook_events (id, provider, event_id, event_type, raw_body, payload, normalized, status, attempts,
                                received_at, published_at)
    VALUES (:id, :provider, :event_id, :event_type, :raw_body, :payload, :normalized, 'received', 0, :now, :now)
    ON CONFLICT ON CONSTRAINT uq_webhook_events_provider_event_id DO NOTHING
    RETURNING id""")
    .bindparams(
        bindparam("payload", type_=JSONB),
        bindparam("normalized", type_=JSONB),
        bindparam("raw_body", type_=LargeBinary),
    )
    .columns(column("id", Uuid()))
)


def record_event(connection: Connection, event: ProviderEvent, raw_body: bytes) -> uuid.UUID | None:
    """Store the event durably; None when this provider event was stored before (a redelivery).

    One INSERT, so on an autocommit connection it is its own transaction: durable when this returns, with no
    BEGIN and COMMIT round trips. On a connection in a transaction, the caller commits.

    A verified event is stored whatever its text holds: NUL characters, which PostgreSQL cannot store in text or
    jsonb, become U+FFFD in the parsed columns (the same way on every redelivery), and `raw_body` keeps the bytes
    as sent."""
    values = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "payload": event.payload,
        "normalized": event.normalized(),
    }
    if jsoncodec.may_hold_nul(raw_body):  # headers cannot carry NUL at all
        values = storable(values)
    return connection.execute(
        _INSERT_EVENT,
        {
            "id": uuid.uuid4(),
            "provider": event.provider,
            "raw_body": raw_body,
            "now": utcnow(),
            **values,
        },
    ).scalar()


def mark_unpublished(session: Session, event_id: uuid.UUID) -> None:
    session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(published_at=None))
    session.commit()


def due_for_publishing(
    session: Session,
    *,
    unsent_after: timedelta,
    stale_after: timedelta | None,
    limit: int = 500,
) -> list[uuid.UUID]:
    """Stored events never sent to the payment queue (broker was down), or, unless `stale_after` is None, sent
    long ago and still unprocessed; marks them sent."""
    now = utcnow()
    waiting = and_(WebhookEvent.published_at.is_(None), WebhookEvent.received_at < now - unsent_after)
    if stale_after is not None:
        waiting = or_(waiting, WebhookEvent.published_at < now - stale_after)
    ids = list(
        session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.status == "received", waiting)
            .order_by(WebhookEvent.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(published_at=now))
    session.commit()
    return ids


def process_event(db: Database, event_id: uuid.UUID, *, tolerance: Decimal = payments.DEFAULT_TOLERANCE) -> bool:
    """Apply a stored event to its payment, once; False when it was processed before (or does not exist).

    The first statement locks the payment the event names by our id, marks the event processed (which locks it
    until the commit, so a concurrent delivery of the same message waits and then finds it processed) and
    returns both; the payment's changes follow in the same transaction. Exceptions propagate with nothing
    committed; the task counts the attempt.
    """
    connection = connection_of(db)
    claimed = connection.execute(_CLAIM_EVENT, {"b_id": event_id, "b_now": utcnow()}).first()
    if claimed is None:
        db.rollback()
        return False
    locked = claimed if claimed.id is not None else None  # else named another way: apply_event looks it up
    payment_id = payments.apply_event(
        connection, claimed.provider, claimed.normalized or {}, tolerance=tolerance, payment=locked
    )
    if payment_id != claimed.id:
        connection.execute(_LINK_PAYMENT, {"b_id": event_id, "b_payment": payment_id})
    db.commit()
    return True


# One round trip where there were three (lock the event, lock its payment, mark the event): the function
# `claim_payment_event` (migration 0011). Its payment columns are those `payments.apply_event` reads.
_events = WebhookEvent.__table__
_CLAIM_EVENT = text("SELECT * FROM claim_payment_event(:b_id, :b_now)").columns(
    _events.c.provider, _events.c.normalized, *(Payment.__table__.c[name] for name in payments.EVENT_PAYMENT_COLUMNS)
)
_LINK_PAYMENT = update(_events).where(_events.c.id == bindparam("b_id")).values(payment_id=bindparam("b_payment"))


def record_failure(db: Database, event_id: uuid.UUID, error: str, *, max_attempts: int) -> int:
    """Count a failed attempt; at `max_attempts` the event is dead-lettered. Returns the attempts so far."""
    db.rollback()
    connection = connection_of(db)
    row = connection.execute(
        update(_events)
        .where(_events.c.id == event_id, _events.c.status == "received")
        .values(attempts=_events.c.attempts + 1, error=error[:MAX_ERROR_LENGTH])
        .returning(_events.c.attempts)
    ).first()
    attempts = row.attempts if row else max_attempts
    if row and attempts >= max_attempts:
        connection.execute(update(_events).where(_events.c.id == event_id).values(status="dead"))
    db.commit()
    return attempts


def dead_letters(
    session: Session, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[WebhookEvent], str | None]:
    """One page of dead-lettered events, newest first, and the cursor of the next page (None on the last)."""
    query = select(WebhookEvent).where(WebhookEvent.status == "dead")
    return pagination.newest_first(
        session, query, WebhookEvent.received_at, WebhookEvent.id, limit=limit, cursor=cursor
    )


def replay(session: Session, event_id: uuid.UUID) -> None:
    """Give a dead-lettered event a fresh set of attempts; the caller publishes it after this commits."""
    row = session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.status == "dead")
        .values(status="received", attempts=0, published_at=utcnow())
        .returning(WebhookEvent.id)
    ).first()
    session.commit()
    if row is None:
        raise EventNotFound(str(event_id))
