"""Payments and their state machine: the one place a payment's status changes.

pending -> confirmed | failed | expired | review; review -> confirmed | failed; confirmed -> refunded. Provider
events may arrive late, twice or out of order, so each event is applied to the payment row under a row lock and
only moves it forward:
- a `pending` event never moves a payment back; `failed`/`expired` only end a pending payment;
- `confirmed` also wins over failed/expired (crypto paid after the deadline is still money received) and
  credits the account exactly once: the ledger entry's key is `payment:<id>:credit`;
- `refunded` after a confirmation takes the credits back, as many as are still spendable (the rest is
  recorded as `unrecovered`); before one, it just ends the payment.
A pending payment past its `expires_at` is moved to `expired` by a periodic sweep (`expire_overdue`) when no
provider event says so; a confirmation arriving later still credits, as above.
The amount paid is compared with the amount asked: short by more than PAYMENT_AMOUNT_TOLERANCE percent is
`underpaid` and credits pro rata; more is `overpaid` and credits the full pack (the surplus is for support to
refund); within it, `exact`.

Settlement fails closed. A confirmation that does not say, in a way we can check, what was paid (a currency that
is neither the payment's nor its price's, an amount missing, zero, negative or unreadable, an invoice marked
settled by hand) credits nothing: the payment goes to `review` with the reason, the event stays linked to it, the
change is audited, and staff credit or reject it (`resolve_review`). A provider bug, a misrouted event or a
compromised provider account can then delay a credit, never mint one. A later confirmation that can be checked
still settles a payment in review. BTCPay's `InvoiceSettled` carries no amount by design: it says the invoice,
which we created for the price, was paid in full, so it settles when it names the invoice we recorded.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from smartcompute import pagination
from smartcompute.accounts import audit
from smartcompute.billing import ledger
from smartcompute.billing.models import CreditBalance, Payment
from smartcompute.billing.prices import Product
from smartcompute.db import Database, connection_of, utcnow
from smartcompute.numbers import decimal_number

DEFAULT_TOLERANCE = Decimal("0.5")
_LARGEST_AMOUNT = Decimal(10) ** 18  # what payments.amount_paid (numeric(30, 12)) holds
EXPIRY_BATCH_SIZE = 500
PAYMENT_WORKER = audit.Actor("system:payments")  # who the audit log says held a payment for review


class PaymentNotFound(LookupError):
    """The event names a payment we do not (yet) have: retried, then dead-lettered."""


class Unsettleable(ValueError):
    """A confirmation that does not say what was paid in a way we can check; the message says why."""


class NotInReview(LookupError):
    """Staff resolved a payment that is not (or no longer) waiting for review."""


@dataclass(frozen=True)
class Settlement:
    kind: str  # exact, underpaid, overpaid
    paid: Decimal | None  # the amount the provider says was paid, in the event's currency
    credits: int


@dataclass(frozen=True)
class Checkout:
    """What the provider's API answered: what the customer must do to pay."""

    provider_payment_id: str
    checkout_url: str | None = None
    pay_address: str | None = None
    pay_amount: Decimal | None = None
    expires_at: datetime | None = None


def open_payment(
    session: Session,
    *,
    account_id: uuid.UUID,
    user_id: uuid.UUID | None,
    product: Product,
    provider: str,
    pay_currency: str,
    expiry: timedelta,
) -> Payment:
    """A pending payment, committed before the provider is asked, so its events always find it."""
    now = utcnow()
    payment = Payment(
        id=uuid.uuid4(),
        account_id=account_id,
        user_id=user_id,
        provider=provider,
        product_kind=product.kind,
        product=product.name,
        credits=product.credits,
        price_amount=product.price,
        price_currency=product.currency,
        pay_currency=pay_currency.upper(),
        status="pending",
        credited=0,
        unrecovered=0,
        expires_at=now + expiry,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.commit()
    return payment


def attach_checkout(session: Session, payment_id: uuid.UUID, checkout: Checkout) -> Payment:
    payment = session.scalars(select(Payment).where(Payment.id == payment_id).with_for_update()).one()
    payment.provider_payment_id = checkout.provider_payment_id
    payment.checkout_url, payment.pay_address, payment.pay_amount = (
        checkout.checkout_url,
        checkout.pay_address,
        checkout.pay_amount,
    )
    if checkout.expires_at:
        payment.expires_at = checkout.expires_at
    session.commit()
    return payment


def abandon(session: Session, payment_id: uuid.UUID) -> None:
    """The provider refused to create it: the payment failed before anyone could pay."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is not None and payment.status == "pending":
        payment.status = "failed"
    session.commit()


def expire_overdue(session: Session, *, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Mark pending payments whose `expires_at` has passed as expired; returns how many it expired.

    Each batch is its own short transaction, so a large backlog never holds many row locks for long. Rows
    another transaction holds (a concurrent sweep, or an event being applied, which may be the confirmation)
    are skipped rather than waited for: the next sweep sees them again if they are still pending.
    """
    expired = 0
    while True:
        now = utcnow()
        ids = list(
            session.scalars(
                select(Payment.id)
                .where(Payment.status == "pending", Payment.expires_at < now)
                .order_by(Payment.expires_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        if ids:
            session.execute(update(Payment).where(Payment.id.in_(ids)).values(status="expired", updated_at=now))
        session.commit()
        expired += len(ids)
        if len(ids) < batch_size:
            return expired


def apply_event(
    db: Database,
    provider: str,
    event: dict[str, Any],
    *,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    payment: Row | None = None,
) -> uuid.UUID | None:
    """Apply one normalised provider event in the caller's transaction; returns the payment's id.

    None when the event names no payment at all (nothing to do); PaymentNotFound when it names one we lack.
    The payment is read as a row and changed by one UPDATE: the payment worker runs this for every event,
    and loading and flushing an ORM object cost more CPU than the statements themselves. `payment`: the row
    (EVENT_PAYMENT_COLUMNS) the caller already locked in this transaction, found by the event's payment id.
    """
    if not (event.get("payment_id") or event.get("provider_payment_id")):
        return None
    connection = connection_of(db)
    payment = payment or _find(connection, provider, event)
    if payment is None:
        raise PaymentNotFound(f"no {provider} payment {event.get('payment_id') or event.get('provider_payment_id')}")
    now = utcnow()
    changes: dict[str, Any] = {"last_event_at": now}  # updated_at: the column's own onupdate
    if payment.provider_payment_id is None and event.get("provider_payment_id"):
        changes["provider_payment_id"] = event["provider_payment_id"]
    status = event.get("status")
    if status == "confirmed":
        changes.update(_confirm(connection, payment, event, tolerance, now))
    elif status in ("failed", "expired") and payment.status == "pending":
        changes["status"] = status
    elif status == "refunded":
        changes.update(_refund(connection, payment))
    _update_payment(connection, payment.id, changes)
    return payment.id


def _update_payment(connection: Connection, payment_id: uuid.UUID, changes: dict[str, Any]) -> None:
    """One UPDATE of the changed columns, its statement built once per set of columns (a handful exist): built
    per event, with its cache key walked each time, it cost the worker more CPU than running it."""
    names = tuple(sorted(changes))
    statement = _PAYMENT_UPDATES.get(names)
    if statement is None:
        statement = _PAYMENT_UPDATES[names] = (
            update(_payments)
            .where(_payments.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in names})
        )
    connection.execute(statement, {"b_id": payment_id, **{f"b_{name}": value for name, value in changes.items()}})


# Built once: what applying an event reads of a payment, locked until the caller's transaction ends.
_payments = Payment.__table__
EVENT_PAYMENT_COLUMNS = (
    "id",
    "account_id",
    "provider_payment_id",
    "status",
    "credits",
    "credited",
    "price_amount",
    "price_currency",
    "pay_currency",
    "pay_amount",
    "product_kind",
    "product",
)
# (Migration 0011's claim_payment_event returns these columns; it is unchanged, so these are too.)
_PAYMENT_FOR_EVENT = (
    select(*(_payments.c[name] for name in EVENT_PAYMENT_COLUMNS))
    .where(_payments.c.provider == bindparam("b_provider"))
    .with_for_update()
)
_BY_OUR_ID = _PAYMENT_FOR_EVENT.where(_payments.c.id == bindparam("b_id"))
_BY_PROVIDER_ID = _PAYMENT_FOR_EVENT.where(_payments.c.provider_payment_id == bindparam("b_provider_payment_id"))
_PAYMENT_UPDATES: dict[tuple[str, ...], Any] = {}  # see _update_payment
_balances = CreditBalance.__table__
_BALANCE_FOR_UPDATE = (
    select(_balances.c.balance, _balances.c.held)
    .where(_balances.c.account_id == bindparam("b_account"))
    .with_for_update()
)


def _find(connection: Connection, provider: str, event: dict[str, Any]) -> Row | None:
    try:
        ours = uuid.UUID(str(event.get("payment_id"))) if event.get("payment_id") else None
    except ValueError:
        ours = None
    if ours is not None:
        found = connection.execute(_BY_OUR_ID, {"b_provider": provider, "b_id": ours}).first()
        if found is not None:
            return found
    if event.get("provider_payment_id"):
        return connection.execute(
            _BY_PROVIDER_ID, {"b_provider": provider, "b_provider_payment_id": str(event["provider_payment_id"])}
        ).first()
    return None


def _confirm(
    connection: Connection, payment: Row, event: dict[str, Any], tolerance: Decimal, now: datetime
) -> dict[str, Any]:
    """The payment's changes for a confirmation; the credit, once, in the ledger; or review (see the module)."""
    if payment.status in ("confirmed", "refunded"):
        return {}
    try:
        settled = settle(payment, event, tolerance)
    except Unsettleable as reason:
        audit.record(
            connection,
            PAYMENT_WORKER,
            "payment.held_for_review",
            account_id=payment.account_id,
            target_type="payment",
            target_id=payment.id,
            details={
                "reason": str(reason),
                "provider_event": event.get("event_id"),
                "amount": event.get("amount"),
                "currency": event.get("currency"),
            },
        )
        return {"status": "review", "review_reason": str(reason)}
    if settled.credits > 0:
        ledger.record(
            connection,
            payment.account_id,
            settled.credits,
            "payment",
            f"payment:{payment.id}:credit",
            payment_id=payment.id,
            note=f"{payment.product_kind} {payment.product} ({settled.kind})",
        )
    return {
        "status": "confirmed",
        "settlement": settled.kind,
        "amount_paid": settled.paid,
        "confirmed_at": now,
        "credited": settled.credits,
    }


def settle(payment: Row, event: dict[str, Any], tolerance: Decimal) -> Settlement:
    """What a confirmation settles; Unsettleable when it does not say what was paid in a way we can check."""
    hints = event.get("hints") or {}
    if hints.get("manuallyMarked"):
        raise Unsettleable("the provider's invoice was marked settled by hand, not by a payment")
    if event.get("amount") is None:
        if (
            hints.get("settled_in_full")
            and payment.provider_payment_id is not None
            and event.get("provider_payment_id") == payment.provider_payment_id
        ):
            return Settlement("overpaid" if hints.get("overPaid") else "exact", None, payment.credits)
        raise Unsettleable("the confirmation does not say how much was paid")
    paid = _amount(event["amount"])
    currency = (event.get("currency") or "").upper()
    if currency == payment.pay_currency and payment.pay_amount:
        expected = Decimal(payment.pay_amount)
    elif currency == payment.price_currency:
        expected = Decimal(payment.price_amount)
    else:
        raise Unsettleable(
            f"the confirmation is in {currency or 'no currency'}, not in {payment.pay_currency}"
            + ("" if payment.pay_amount else " (whose amount we were not told)")
            + f" or {payment.price_currency}"
        )
    ratio = paid / expected
    if ratio < 1 - tolerance / 100:
        return Settlement("underpaid", paid, max(0, math.floor(payment.credits * ratio)))
    if ratio > 1 + tolerance / 100:
        return Settlement("overpaid", paid, payment.credits)
    return Settlement("exact", paid, payment.credits)


def _amount(value: Any) -> Decimal:
    """A positive amount in ASCII decimal; Unsettleable for anything else (negative, zero, NaN, not a number)."""
    text = str(value).strip()
    if text.startswith("-"):
        raise Unsettleable(f"the amount paid is negative ({text[:40]})")
    try:
        paid = decimal_number(text)
    except ValueError:
        raise Unsettleable(f"the amount paid cannot be read ({text[:40]!r})") from None
    if paid == 0:
        raise Unsettleable("the amount paid is zero")
    if paid >= _LARGEST_AMOUNT:
        raise Unsettleable(f"the amount paid is too large to be real ({text[:40]})")
    return paid


def _refund(connection: Connection, payment: Row) -> dict[str, Any]:
    """The payment's changes for a refund; the credits still spendable taken back in the ledger."""
    if payment.status == "refunded":
        return {}
    changes: dict[str, Any] = {"status": "refunded"}
    if payment.status == "confirmed" and payment.credited > 0:
        balance = connection.execute(_BALANCE_FOR_UPDATE, {"b_account": payment.account_id}).first()
        take = min(payment.credited, balance.balance - balance.held if balance else 0)
        if take > 0:
            ledger.record(
                connection,
                payment.account_id,
                -take,
                "refund",
                f"payment:{payment.id}:refund",
                payment_id=payment.id,
                note="payment refunded by the provider",
            )
        changes["unrecovered"] = payment.credited - take
    return changes


def in_review(session: Session, *, limit: int = 20, cursor: str | None = None) -> tuple[list[Payment], str | None]:
    """Staff's queue: payments whose confirmation credited nothing, newest first, and the next page's cursor."""
    query = select(Payment).where(Payment.status == "review")
    return pagination.newest_first(session, query, Payment.updated_at, Payment.id, limit=limit, cursor=cursor)


def resolve_review(
    session: Session, actor: audit.Actor, payment_id: uuid.UUID, *, decision: str, credits: int | None, note: str
) -> Payment:
    """Staff's decision on a payment in review: `credit` settles it `manual` with `credits` (the product's when
    None, never more), `reject` fails it. Audited with the note; the caller commits. NotInReview if it is not
    waiting for review; ValueError for more credits than the product's."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None or payment.status != "review":
        raise NotInReview(str(payment_id))
    credit = (payment.credits if credits is None else credits) if decision == "credit" else None
    if credit is not None and not 0 < credit <= payment.credits:
        raise ValueError(f"must be from 1 to the product's {payment.credits} credits")
    if credit is None:
        payment.status = "failed"
    else:
        ledger.record(
            session,
            payment.account_id,
            credit,
            "payment",
            f"payment:{payment.id}:credit",
            payment_id=payment.id,
            note=f"{payment.product_kind} {payment.product} (settled by staff)",
        )
        payment.status, payment.settlement, payment.credited = "confirmed", "manual", credit
        payment.confirmed_at = utcnow()
    audit.record(
        session,
        actor,
        "payment.review_resolved",
        account_id=payment.account_id,
        target_type="payment",
        target_id=payment.id,
        details={
            "decision": "reject" if credit is None else "credit",
            "credits": credit or 0,
            "note": note,
            "reason": payment.review_reason,
        },
    )
    return payment


def get_payment(session: Session, account_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.id == payment_id, Payment.account_id == account_id))


def list_payments(
    session: Session, account_id: uuid.UUID, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[Payment], str | None]:
    query = select(Payment).where(Payment.account_id == account_id)
    return pagination.newest_first(session, query, Payment.created_at, Payment.id, limit=limit, cursor=cursor)
