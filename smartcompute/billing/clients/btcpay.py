"""BTCPay Server Greenfield API: `POST /api/v1/stores/{storeId}/invoices` (`Authorization: token <key>`)
creates an invoice; the customer pays on its `checkoutLink`. Our payment id travels in `metadata.orderId`."""

from __future__ import annotations

from datetime import datetime, UTC

from smartcompute.billing.clients import ProviderApiError, post_json
from smartcompute.billing.models import Payment
from smartcompute.billing.payments import Checkout


class BTCPayClient:
    name = "btcpay"

    def __init__(self, base_url: str, api_key: str, store_id: str):
        self._base_url, self._api_key, self._store_id = base_url, api_key, store_id

    def create(self, payment: Payment, *, callback_url: str | None) -> Checkout:
        minutes = max(1, int((payment.expires_at - payment.created_at).total_seconds() // 60))
        body = {
            "amount": str(payment.price_amount),
            "currency": payment.price_currency,
            "metadata": {"orderId": str(payment.id), "itemDesc": f"{payment.credits} analysis credits"},
            "checkout": {"paymentMethods": [payment.pay_currency], "expirationMinutes": minutes},
        }
        answer = post_json(
            f"{self._base_url}/api/v1/stores/{self._store_id}/invoices",
            body,
            {"Authorization": f"token {self._api_key}"},
        )
        if not answer.get("id") or not answer.get("checkoutLink"):
            raise ProviderApiError("the provider's answer has no invoice id or checkoutLink")
        expires = answer.get("expirationTime")
        return Checkout(
            provider_payment_id=str(answer["id"]),
            checkout_url=answer["checkoutLink"],
            expires_at=datetime.fromtimestamp(expires, UTC) if isinstance(expires, (int, float)) else None,
        )
