"""Billing fixtures: payments opened directly in the domain (as POST /v1/payments does before asking a provider),
owner keys that may use the billing API, and an API whose payment providers are a local fake."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from smartcompute.accounts import services as accounts
from smartcompute.billing import ledger, payments
from smartcompute.billing.models import Payment, WebhookEvent
from smartcompute.billing.prices import Product
from smartcompute.billing import webhooks
from tests.billing.fake_providers import API_KEY, STORE_ID, FakeProviders
from tests.billing.signing import SECRET_SETTINGS, body_for, headers_for
from tests.conftest import make_account

STARTER = Product("pack", "starter", 1000, Decimal("10"), "USD")
BILLING_SCOPES = ("billing:read", "billing:write")


@pytest.fixture
def poor_account(sessions):
    return make_account(sessions, credits=0)


def billing_headers(sessions, account, scopes: tuple[str, ...] = BILLING_SCOPES) -> dict[str, str]:
    """Headers with a new API key of the account's user; make_account's own key holds jobs scopes only."""
    with sessions() as session:
        _, key = accounts.create_api_key(session, account.user_id, name="billing", scopes=scopes)
        session.commit()
    return {"X-API-Key": key}


@pytest.fixture
def buyer(sessions, account) -> dict[str, str]:
    """`account`'s owner, with a key that may read and buy credits."""
    return billing_headers(sessions, account)


@pytest.fixture(scope="module")
def providers():
    with FakeProviders() as server:
        yield server


@pytest.fixture(scope="module")
def paying_client(base_env, providers):
    """An API whose Coinbase Commerce, BTCPay and NOWPayments clients talk to the local fake."""
    from web import create_app

    app = create_app(
        {
            **base_env,
            "COINBASE_COMMERCE_API_URL": providers.url,
            "COINBASE_COMMERCE_API_KEY": API_KEY,
            "BTCPAY_URL": providers.url,
            "BTCPAY_API_KEY": API_KEY,
            "BTCPAY_STORE_ID": STORE_ID,
            "NOWPAYMENTS_API_URL": providers.url,
            "NOWPAYMENTS_API_KEY": API_KEY,
            "PUBLIC_BASE_URL": "https://api.smartcompute.example",
        }
    )
    return app.test_client()


def open_payment(
    sessions,
    account,
    provider: str = "generic",
    *,
    pay_amount: str | None = None,
    credits: int = 1000,
    expiry: timedelta = timedelta(hours=1),
) -> uuid.UUID:
    """A pending payment the provider has created (it has their id, digits as NOWPayments' are); a negative
    `expiry` makes one already past its deadline."""
    product = Product("pack", "starter", credits, Decimal("10"), "USD")
    with sessions() as session:
        payment = payments.open_payment(
            session,
            account_id=account.account_id,
            user_id=account.user_id,
            product=product,
            provider=provider,
            pay_currency="BTC",
            expiry=expiry,
        )
        payments.attach_checkout(
            session,
            payment.id,
            payments.Checkout(
                provider_payment_id=str(uuid.uuid4().int)[:10], pay_amount=Decimal(pay_amount) if pay_amount else None
            ),
        )
        return payment.id


def deliver(client, settings, provider: str, payment_id, status: str, **kwargs):
    """A signed delivery about the payment; it names the provider's id for it, as providers do, unless told."""
    if "provider_payment_id" not in kwargs:
        kwargs["provider_payment_id"] = _provider_payment_id(client, payment_id)
    body = body_for(provider, payment_id=str(payment_id), status=status, **kwargs)
    secret = getattr(settings, SECRET_SETTINGS[provider])
    return client.post(f"/v1/webhooks/payments/{provider}", data=body, headers=headers_for(provider, secret, body))


def _provider_payment_id(client, payment_id) -> str | None:
    try:
        ours = uuid.UUID(str(payment_id))
    except ValueError:
        return None
    with client.application.extensions["smartcompute"].sessions() as session:
        return session.scalar(select(Payment.provider_payment_id).where(Payment.id == ours))


def process_all(sessions, payment_id) -> int:
    """Process the payment's stored, unprocessed events (what the payment worker does), oldest first."""
    with sessions() as session:
        query = (
            select(WebhookEvent.id)
            .where(WebhookEvent.status == "received", WebhookEvent.normalized["payment_id"].astext == str(payment_id))
            .order_by(WebhookEvent.received_at)
        )
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
