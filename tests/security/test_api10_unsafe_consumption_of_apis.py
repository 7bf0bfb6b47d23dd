"""API10:2023 Unsafe Consumption of APIs: what payment providers send is signed, not trusted.

A correctly signed confirmation that does not say, in a way we can check, what was paid (another currency, an
amount missing, zero, negative or unreadable, an invoice settled by hand or naming another invoice) used to credit
the whole product. Each is replayed here as a provider bug, a misrouted event or a compromised provider account
would send it: nothing is credited, the payment waits for staff's review, and the event is kept."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from smartcompute.billing.models import WebhookEvent
from tests.billing.conftest import balance, open_payment, payment_row, poor_account, process_all  # noqa: F401
from tests.billing.signing import SECRET_SETTINGS, body_for, headers_for


def _generic(data: dict) -> dict:
    return {"id": f"evt_{uuid.uuid4().hex}", "type": "payment.confirmed", "data": {"status": "confirmed", **data}}


def _without_payments(body: dict) -> dict:
    body["event"]["data"]["payments"] = []
    return body


def _nowpayments(body: dict, **changes) -> dict:
    return {**body, **changes}


# (provider, how the signed body is built from the payment's id and the provider's id for it, what the review says)
ATTACKS = {
    "another currency": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "amount": "10", "currency": "EUR"}),
        "in EUR",
    ),
    "negative amount": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "amount": "-10", "currency": "USD"}),
        "negative",
    ),
    "no amount": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "currency": "USD"}),
        "does not say how much",
    ),
    "zero amount": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "amount": "0", "currency": "USD"}),
        "zero",
    ),
    "an amount no column holds": (
        "standard-webhooks",
        lambda ours, theirs: {
            "type": "payment.confirmed",
            "data": {"payment_id": ours, "status": "confirmed", "amount": "1e999999", "currency": "USD"},
        },
        "too large",
    ),
    "NaN amount": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "amount": "NaN", "currency": "USD"}),
        "cannot be read",
    ),
    "Unicode digits": (
        "generic",
        lambda ours, theirs: _generic({"payment_id": ours, "amount": "\u0661\u0660", "currency": "USD"}),
        "cannot be read",
    ),
    "NOWPayments in another coin": (
        "nowpayments",
        lambda ours, theirs: _nowpayments(
            json.loads(
                body_for(
                    "nowpayments", payment_id=ours, status="confirmed", amount="0.0005", provider_payment_id=theirs
                )
            ),
            pay_currency="doge",
        ),
        "in DOGE",
    ),
    "NOWPayments negative": (
        "nowpayments",
        lambda ours, theirs: _nowpayments(
            json.loads(
                body_for(
                    "nowpayments", payment_id=ours, status="confirmed", amount="0.0005", provider_payment_id=theirs
                )
            ),
            actually_paid=-0.0005,
        ),
        "negative",
    ),
    "Coinbase charge with no payments": (
        "coinbase-commerce",
        lambda ours, theirs: _without_payments(
            json.loads(body_for("coinbase-commerce", payment_id=ours, status="confirmed", provider_payment_id=theirs))
        ),
        "does not say how much",
    ),
    "BTCPay invoice marked settled by hand": (
        "btcpay",
        lambda ours, theirs: {
            **json.loads(body_for("btcpay", payment_id=ours, status="confirmed", provider_payment_id=theirs)),
            "manuallyMarked": True,
        },
        "marked settled by hand",
    ),
    "BTCPay settlement of another invoice": (
        "btcpay",
        lambda ours, theirs: json.loads(
            body_for("btcpay", payment_id=ours, status="confirmed", provider_payment_id="a-cheaper-invoice")
        ),
        "does not say how much",
    ),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_signed_confirmation_that_does_not_say_what_was_paid_credits_nothing(
    client, settings, sessions, poor_account, attack
):
    provider, build, reason = ATTACKS[attack]
    payment_id = open_payment(sessions, poor_account, provider, pay_amount="0.0005")
    theirs = payment_row(sessions, payment_id).provider_payment_id
    raw = json.dumps(build(str(payment_id), theirs)).encode()
    response = client.post(
        f"/v1/webhooks/payments/{provider}",
        data=raw,
        headers=headers_for(provider, getattr(settings, SECRET_SETTINGS[provider]), raw),
    )
    assert response.status_code == 200, response.get_json()
    process_all(sessions, payment_id)
    row = payment_row(sessions, payment_id)
    assert (row.status, row.credited, row.settlement) == ("review", 0, None)
    assert reason in row.review_reason, row.review_reason
    assert balance(sessions, poor_account).balance == 0
    with sessions() as session:  # the event is kept, linked to the payment it names
        assert session.scalar(select(WebhookEvent.status).where(WebhookEvent.payment_id == payment_id)) == "processed"


def test_a_btcpay_settlement_of_the_invoice_we_created_still_credits_in_full(client, settings, sessions, poor_account):
    """BTCPay's InvoiceSettled carries no amount by design: it says our invoice, made for the price, was paid."""
    payment_id = open_payment(sessions, poor_account, "btcpay")
    theirs = payment_row(sessions, payment_id).provider_payment_id
    raw = body_for("btcpay", payment_id=str(payment_id), status="confirmed", provider_payment_id=theirs)
    client.post(
        "/v1/webhooks/payments/btcpay", data=raw, headers=headers_for("btcpay", settings.BTCPAY_WEBHOOK_SECRET, raw)
    )
    process_all(sessions, payment_id)
    assert (payment_row(sessions, payment_id).status, balance(sessions, poor_account).balance) == ("confirmed", 1000)
