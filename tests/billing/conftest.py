"""Billing fixtures: payments opened directly in the domain (as POST /v1/payments does before asking a provider)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from smartcompute.billing import ledger, payments
from smartcompute.billing.models import Payment, WebhookEvent
from smartcompute.billing.prices import Product
from smartcompute.billing import webhooks
from tests.billing.signing import SECRET_SETTINGS, body_for, headers_for
from tests.conftest import make_account

STARTER = Product("pack", "starter", 1000, Decimal("10"), "USD")


@pytest.fixture
def poor_account(sessions):
    return make_account(sessions, credits=0)


def open_payment(sessions, account, provider: str = "generic", *, pay_amount: str | None = None,
                 credits: int = 1000) -> uuid.UUID:
    product = Product("pack", "starter", credits, Decimal("10"), "USD")
    with sessions() as session:
        payment = payments.open_payment(session, account_id=account.account_id, user_id=account.user_id,
                                        product=product, provider=provider, pay_currency="BTC",
                                        expiry=timedelta(hours=1))
        if pay_amount:
            payments.attach_checkout(session, payment.id, payments.Checkout(
                provider_payment_id=str(uuid.uuid4().int)[:10], pay_amount=Decimal(pay_amount)))
        return payment.id


def deliver(client, settings, provider: str, payment_id, status: str, **kwargs):
    body = body_for(provider, payment_id=str(payment_id), status=status, **kwargs)
    secret = getattr(settings, SECRET_SETTINGS[provider])
    return client.post(f"/v1/webhooks/payments/{provider}", data=body, headers=headers_for(provider, secret, body))


def process_all(sessions, payment_id) -> int:
    """Process the payment's stored, unprocessed events (what the payment worker does), oldest first."""
    with sessions() as session:
        query = (select(WebhookEvent.id).where(WebhookEvent.status == "received",
                                               WebhookEvent.normalized["payment_id"].astext == str(payment_id))
                 .order_by(WebhookEvent.received_at))
        ids = list(session.scalars(query))
    done = 0
    for event_id in ids:
        with sessions() as session:
            done += webhooks.process_event(session, event_id)
    return done


def payment_row(sessions, payment_id) -> Payment:
    with sessions() as session:
        return session.get(Payment, payment_id)


def balance(sessions, account) -> ledger.Balance:
    with sessions() as session:
        return ledger.balance_of(session, account.account_id)


def ledger_sum(sessions, account) -> int:
    with sessions() as session:
        return ledger.ledger_sum(session, account.account_id)
