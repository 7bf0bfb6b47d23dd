"""The seed's scheme: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.

Body: `{"id": "evt_...", "type": "payment.<status>", "created_at": ISO-8601,
"data": {"payment_id": "<our payment id>", "status": "<status>", "amount": "0.0021", "currency": "BTC"}}`;
`data.status` wins over the type's suffix.
"""

from __future__ import annotations

from collections.abc import Mapping

from smartcompute.billing.providers import (
    HexHmacSha256Provider,
    PAYMENT_STATUSES,
    ProviderEvent,
    as_object,
    event_id_of,
    json_object,
    text,
)


class GenericProvider(HexHmacSha256Provider):
    name = "generic"
    header = "X-Webhook-Signature"
    prefix = "sha256="

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        event_type = payload.get("type") if isinstance(payload.get("type"), str) else None
        data = as_object(payload.get("data"))
        status = data.get("status") or (event_type or "").rpartition(".")[2]
        return ProviderEvent(
            provider=self.name,
            event_id=event_id_of(payload.get("id")),
            event_type=event_type,
            payload=payload,
            status=status if status in PAYMENT_STATUSES else None,
            payment_id=text(data.get("payment_id")),
            provider_payment_id=text(data.get("provider_payment_id")),
            amount=text(data.get("amount"), 64),
            currency=(text(data.get("currency"), 16) or "").upper() or None,
            occurred_at=text(payload.get("created_at"), 64),
        )
