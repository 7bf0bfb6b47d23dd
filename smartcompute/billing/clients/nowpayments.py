"""NOWPayments: `POST /v1/payment` (`x-api-key`) creates a payment and answers the address and the exact
crypto amount to send. Our payment id travels as `order_id`; IPNs go to `ipn_callback_url`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from smartcompute.billing.clients import ProviderApiError, post_json
from smartcompute.billing.models import Payment
from smartcompute.billing.payments import Checkout

_CODES = {"USDT": "usdterc20", "USDC": "usdcerc20"}


class NowPaymentsClient:
    name = "nowpayments"

    def __init__(self, base_url: str, api_key: str):
        self._base_url, self._api_key = base_url, api_key

    def create(self, payment: Payment, *, callback_url: str | None) -> Checkout:
        body = {
            "price_amount": float(payment.price_amount),
            "price_currency": payment.price_currency.lower(),
            "pay_currency": _CODES.get(payment.pay_currency, payment.pay_currency.lower()),
            "order_id": str(payment.id),
            "order_description": f"{payment.credits} analysis credits",
        }
        if callback_url:
            body["ipn_callback_url"] = callback_url
        answer = post_json(f"{self._base_url}/v1/payment", body, {"x-api-key": self._api_key})
        try:
            pay_amount = Decimal(str(answer["pay_amount"]))
            provider_id, address = str(answer["payment_id"]), str(answer["pay_address"])
        except (KeyError, InvalidOperation):
            raise ProviderApiError("the provider's answer has no payment_id, pay_address or pay_amount") from None
        expires = answer.get("expiration_estimate_date")
        return Checkout(
            provider_payment_id=provider_id,
            pay_address=address,
            pay_amount=pay_amount,
            expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if isinstance(expires, str) else None,
        )
