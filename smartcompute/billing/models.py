from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from smartcompute.db import Base, new_id, utcnow

EVENT_STATUSES = ("received", "processed", "failed", "dead")


class WebhookEvent(Base):
    """A verified provider delivery, stored before it is acknowledged; the raw body is kept as sent."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event_id"),
        CheckConstraint(f"status IN {EVENT_STATUSES}", name="status"),
        Index("ix_webhook_events_dead", "received_at", postgresql_where=text("status = 'dead'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(100))
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(12), default="received")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    # The provider's event in one shape (provider, ids, status, amount, currency, time); set at intake.
    normalized: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"), index=True)


# `review`: a confirmation the payment could not be settled from (another currency, an amount missing, zero,
# negative or unreadable) credited nothing and waits for staff; `manual` is how staff settled one.
PAYMENT_STATUSES = ("pending", "confirmed", "failed", "expired", "refunded", "review")
SETTLEMENTS = ("exact", "underpaid", "overpaid", "manual")
PRODUCT_KINDS = ("pack", "plan")
HOLD_STATUSES = ("held", "charged", "released")
LEDGER_REASONS = ("payment", "refund", "job", "grant", "adjustment")


class Payment(Base):
    """A purchase of credits through a provider; its status changes only in `billing/payments.py`."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status"),
        CheckConstraint(f"settlement IN {SETTLEMENTS}", name="settlement"),
        CheckConstraint(f"product_kind IN {PRODUCT_KINDS}", name="product_kind"),
        CheckConstraint("credits > 0", name="credits"),
        UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_payment_id"),
        Index("ix_payments_account_newest", "account_id", text("created_at DESC"), text("id DESC")),
        # The expiry sweep's scan: only pending payments, by deadline.
        Index("ix_payments_pending_expiry", "expires_at", postgresql_where=text("status = 'pending'")),
        # Staff's review queue, oldest first.
        Index("ix_payments_review", "updated_at", postgresql_where=text("status = 'review'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(40))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    product_kind: Mapped[str] = mapped_column(String(10))
    product: Mapped[str] = mapped_column(String(40))
    credits: Mapped[int] = mapped_column(BigInteger)
    price_amount: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    price_currency: Mapped[str] = mapped_column(String(10))
    pay_currency: Mapped[str] = mapped_column(String(10))
    pay_amount: Mapped[Decimal | None] = mapped_column(Numeric(30, 12))
    pay_address: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    review_reason: Mapped[str | None] = mapped_column(Text)  # why a confirmation credited nothing (status review)
    settlement: Mapped[str | None] = mapped_column(String(10))
    amount_paid: Mapped[Decimal | None] = mapped_column(Numeric(30, 12))
    credited: Mapped[int] = mapped_column(BigInteger, default=0)
    unrecovered: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]


class CreditBalance(Base):
    """One row per account, kept by a trigger on `credit_ledger`: `balance` is always the ledger's sum.

    `held` is the part reserved for queued and running jobs; what can be spent is `balance - held`.
    """

    __tablename__ = "credit_balances"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("held >= 0 AND held <= balance", name="held_within_balance"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only: one row per change of a balance (the database refuses UPDATE and DELETE)."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(f"reason IN {LEDGER_REASONS}", name="reason"),
        Index("ix_credit_ledger_account_newest", "account_id", text("created_at DESC"), text("id DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(20))
    # The change's identity: a second change with the same key is refused, so each credit happens once.
    entry_key: Mapped[str] = mapped_column(String(200), unique=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # jobs are purged; the ledger is not
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditHold(Base):
    """Credits reserved for one job: `held`, then `charged` (success) or `released` (failure, cancel)."""

    __tablename__ = "credit_holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(f"status IN {HOLD_STATUSES}", name="status"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="held")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
