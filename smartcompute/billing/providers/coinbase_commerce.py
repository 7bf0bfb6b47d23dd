"""Coinbase Commerce: `X-CC-Webhook-Signature` is the hex HMAC-SHA256 of the raw body with the shared secret.

The body is `{"id": ..., "scheduled_for": ..., "event": {"id", "type": "charge:<state>", "created_at",
"data": <charge>}}`; the charge carries our payment id in `metadata.payment_id` (we set it when creating it),
its payments in `payments[].value.crypto` and its own id in `id`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Mapping

from smartcompute.billing.providers import (
    HexHmacSha256Provider,
    InvalidEvent,
    ProviderEvent,
    as_object,
    event_id_of,
    json_object,
    text,
)

# charge:delayed is a payment accepted after the charge expired; charge:resolved a manually settled one.
STATUSES = {
    "charge:created": "pending",
    "charge:pending": "pending",
    "charge:confirmed": "confirmed",
    "charge:resolved": "confirmed",
    "charge:delayed": "confirmed",
    "charge:failed": "failed",
}


class CoinbaseCommerceProvider(HexHmacSha256Provider):
    name = "coinbase-commerce"
    header = "X-CC-Webhook-Signature"

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        event = payload.get("event")
        if not isinstance(event, dict):
            raise InvalidEvent("the body has no event object")
        charge = as_object(event.get("data"))
        metadata = as_object(charge.get("metadata"))
        event_type = text(event.get("type"), 100)
        amount, currency = _paid(charge)
        return ProviderEvent(
            provider=self.name,
            event_id=event_id_of(event.get("id")),
            event_type=event_type,
            payload=payload,
            status=STATUSES.get(event_type or ""),
            payment_id=text(metadata.get("payment_id")),
            provider_payment_id=text(charge.get("id")),
            amount=amount,
            currency=currency,
            occurred_at=text(event.get("created_at"), 64),
        )


def _paid(charge: dict[str, Any]) -> tuple[str | None, str | None]:
    """The crypto amount received over all of the charge's payments, when they are in one currency. A payment
    not shaped as documented (the body is signed, but the sender's shape can drift) counts for nothing."""
    payments = charge.get("payments")
    total, currency = Decimal(0), None
    for payment in payments if isinstance(payments, list) else []:
        crypto = as_object(as_object(as_object(payment).get("value")).get("crypto"))
        try:
            amount = Decimal(str(crypto.get("amount")))
        except InvalidOperation:
            continue
        if not str(crypto.get("amount")).isascii():  # Decimal reads digits of other scripts too
            continue
        if not amount.is_finite() or not isinstance(crypto.get("currency"), str):
            continue
        if currency not in (None, crypto["currency"]):
            return None, None
        total, currency = total + amount, crypto["currency"]
    return (str(total), currency.upper()) if currency else (None, None)
