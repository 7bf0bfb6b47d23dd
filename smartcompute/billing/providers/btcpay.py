"""BTCPay Server (Greenfield webhooks): `BTCPay-Sig: sha256=<hex HMAC-SHA256(secret, raw body)>`.

Body: `{"deliveryId", "webhookId", "originalDeliveryId", "isRedelivery", "type": "Invoice...", "timestamp",
"storeId", "invoiceId", "metadata": {"orderId": "<our payment id>"}, "overPaid", "partiallyPaid", ...}`.
A redelivery gets a new deliveryId but keeps `originalDeliveryId`, which is therefore the event's id.

`InvoiceSettled` carries no amount: it says the invoice, created by us for the price, was paid in full
(`settled_in_full`), unless it was marked settled by hand (`manuallyMarked`), which goes to review.
"""

from __future__ import annotations

from datetime import datetime, UTC
from collections.abc import Mapping

from smartcompute.billing.providers import (
    HexHmacSha256Provider,
    ProviderEvent,
    as_object,
    event_id_of,
    json_object,
    text,
)

STATUSES = {
    "InvoiceCreated": "pending",
    "InvoiceReceivedPayment": "pending",
    "InvoiceProcessing": "pending",
    "InvoicePaymentSettled": "pending",
    "InvoiceSettled": "confirmed",
    "InvoiceExpired": "expired",
    "InvoiceInvalid": "failed",
}


class BTCPayProvider(HexHmacSha256Provider):
    name = "btcpay"
    header = "BTCPay-Sig"
    prefix = "sha256="

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        metadata = as_object(payload.get("metadata"))
        event_type = text(payload.get("type"), 100)
        timestamp = payload.get("timestamp")
        occurred = (
            datetime.fromtimestamp(timestamp, UTC).isoformat()
            if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool)
            else None
        )
        hints = {key: True for key in ("overPaid", "partiallyPaid", "manuallyMarked") if payload.get(key) is True}
        if event_type == "InvoiceSettled":
            hints["settled_in_full"] = True
        return ProviderEvent(
            provider=self.name,
            event_id=event_id_of(payload.get("originalDeliveryId") or payload.get("deliveryId")),
            event_type=event_type,
            payload=payload,
            status=STATUSES.get(event_type or ""),
            payment_id=text(metadata.get("orderId")),
            provider_payment_id=text(payload.get("invoiceId")),
            occurred_at=occurred,
            hints=hints,
        )
