"""Deliveries signed the way each provider signs them (with the provider's or the standard's library where
one exists on PyPI: `coinbase-commerce`, `standardwebhooks`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, UTC

from coinbase_commerce.webhook import WebhookSignature
from standardwebhooks import Webhook

SECRET_SETTINGS = {
    "generic": "PAYMENT_WEBHOOK_SECRET",
    "coinbase-commerce": "COINBASE_COMMERCE_WEBHOOK_SECRET",
    "btcpay": "BTCPAY_WEBHOOK_SECRET",
    "nowpayments": "NOWPAYMENTS_IPN_SECRET",
    "standard-webhooks": "STANDARD_WEBHOOKS_SECRET",
}
PROVIDERS = tuple(SECRET_SETTINGS)
STATUS_WORDS = {  # our status -> the provider's word for it
    "coinbase-commerce": {"pending": "charge:pending", "confirmed": "charge:confirmed", "failed": "charge:failed"},
    "btcpay": {
        "pending": "InvoiceProcessing",
        "confirmed": "InvoiceSettled",
        "expired": "InvoiceExpired",
        "failed": "InvoiceInvalid",
    },
    "nowpayments": {
        "pending": "confirming",
        "confirmed": "finished",
        "failed": "failed",
        "expired": "expired",
        "refunded": "refunded",
    },
}


# A confirmation that names no amount pays the test product's price: 10 USD (see tests/billing/conftest.py).
PRICE, PRICE_CURRENCY = "10", "USD"


def body_for(
    provider: str,
    *,
    payment_id: str,
    status: str,
    event_id: str | None = None,
    amount: str | None = None,
    currency: str | None = None,
    provider_payment_id: str | None = None,
) -> bytes:
    if status == "confirmed" and amount is None:
        amount, currency = PRICE, currency or PRICE_CURRENCY
    currency = currency or "BTC"
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    now = datetime.now(UTC).isoformat()
    if provider in ("generic", "standard-webhooks"):
        data = {"payment_id": payment_id, "status": status, "currency": currency}
        if amount is not None:
            data["amount"] = amount
        if provider_payment_id:
            data["provider_payment_id"] = provider_payment_id
        body = {"id": event_id, "type": f"payment.{status}", "created_at": now, "data": data}
        if provider == "standard-webhooks":
            body = {"type": f"payment.{status}", "timestamp": now, "data": data}
        return json.dumps(body).encode()
    word = STATUS_WORDS[provider][status]
    if provider == "coinbase-commerce":
        payments = [{"value": {"crypto": {"amount": amount, "currency": currency}}}] if amount else []
        charge = {
            "id": provider_payment_id or str(uuid.uuid4()),
            "code": "ABCD1234",
            "metadata": {"payment_id": payment_id},
            "payments": payments,
        }
        return json.dumps(
            {
                "id": 1,
                "scheduled_for": now,
                "event": {
                    "id": event_id,
                    "resource": "event",
                    "type": word,
                    "api_version": "2018-03-22",
                    "created_at": now,
                    "data": charge,
                },
            }
        ).encode()
    if provider == "btcpay":
        return json.dumps(
            {
                "deliveryId": event_id,
                "webhookId": "wh1",
                "originalDeliveryId": event_id,
                "isRedelivery": False,
                "type": word,
                "timestamp": int(time.time()),
                "storeId": "store1",
                "invoiceId": provider_payment_id or uuid.uuid4().hex[:22],
                "metadata": {"orderId": payment_id},
                "overPaid": False,
            }
        ).encode()
    body = {
        "payment_id": int(provider_payment_id or str(uuid.uuid4().int)[:10]),
        "payment_status": word,
        "pay_address": "bc1qexample",
        "price_amount": 10,
        "price_currency": "usd",
        "pay_amount": 0.00025,
        "actually_paid": float(amount) if amount else 0,
        "pay_currency": currency.lower(),
        "order_id": payment_id,
        "order_description": "credits — starter",
        "purchase_id": event_id,
        "created_at": now,
        "updated_at": int(time.time() * 1000),
        "outcome_amount": 0.0002,
        "outcome_currency": "btc",
    }
    return json.dumps(body, ensure_ascii=False).encode()


def headers_for(
    provider: str, secret: str, body: bytes, *, message_id: str | None = None, timestamp: datetime | None = None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if provider == "generic":
        headers["X-Webhook-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    elif provider == "coinbase-commerce":
        headers["X-CC-Webhook-Signature"] = WebhookSignature._compute_signature(body.decode(), secret)
    elif provider == "btcpay":
        headers["BTCPay-Sig"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    elif provider == "nowpayments":
        headers["x-nowpayments-sig"] = nowpayments_signature(secret, body)
    else:
        message_id = message_id or f"msg_{uuid.uuid4().hex}"
        moment = timestamp or datetime.now(UTC)
        headers.update(
            {
                "webhook-id": message_id,
                "webhook-timestamp": str(int(moment.timestamp())),
                "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode()),
            }
        )
    return headers


def nowpayments_signature(secret: str, body: bytes) -> str:
    """NOWPayments' documented Python check: HMAC-SHA512 of json.dumps(sort_keys, separators=(',', ':'))."""
    canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha512).hexdigest()
