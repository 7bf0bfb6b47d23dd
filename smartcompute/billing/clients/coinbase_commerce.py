"""Coinbase Commerce: `POST /charges` (X-CC-Api-Key, X-CC-Version 2018-03-22) creates a fixed-price charge;
the customer pays on its `hosted_url`. Our payment id travels in `metadata.payment_id` and comes back in
every webhook about the charge."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from smartcompute.billing.clients import ProviderApiError, post_json
from smartcompute.billing.models import Payment
from smartcompute.billing.payments import Checkout

API_VERSION = "2018-03-22"
_NETWORKS = {"BTC": "bitcoin", "ETH": "ethereum", "USDT": "tether", "USDC": "usdc"}


class CoinbaseCommerceClient:
    name = "coinbase-commerce"

    def __init__(self, base_url: str, api_key: str):
        self._base_url, self._api_key = base_url, api_key

    def create(self, payment: Payment, *, callback_url: str | None) -> Checkout:
        body = {
            "name": f"SmartCompute {payment.product}",
            "description": f"{payment.credits} analysis credits",
            "pricing_type": "fixed_price",
            "local_price": {"amount": str(payment.price_amount), "currency": payment.price_currency},
            "metadata": {"payment_id": str(payment.id), "account_id": str(payment.account_id)},
        }
        answer = post_json(
            f"{self._base_url}/charges", body, {"X-CC-Api-Key": self._api_key, "X-CC-Version": API_VERSION}
        )
        charge = answer.get("data") or {}
        if not charge.get("id") or not charge.get("hosted_url"):
            raise ProviderApiError("the provider's answer has no charge id or hosted_url")
        network = _NETWORKS.get(payment.pay_currency, "")
        price = (charge.get("pricing") or {}).get(network) or {}
        return Checkout(
            provider_payment_id=str(charge["id"]),
            checkout_url=charge["hosted_url"],
            pay_address=(charge.get("addresses") or {}).get(network),
            pay_amount=Decimal(price["amount"]) if price.get("amount") else None,
            expires_at=datetime.fromisoformat(charge["expires_at"].replace("Z", "+00:00"))
            if charge.get("expires_at")
            else None,
        )
