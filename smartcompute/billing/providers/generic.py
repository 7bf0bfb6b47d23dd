"""The seed's scheme: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.

Body: `{"id": "evt_...", "type": "payment.<status>", "created_at": ISO-8601,
"data": {"payment_id": "<our payment id>", "status": "<status>", "amount": "0.0021", "currency": "BTC"}}`;
`data.status` wins over the type's suffix.
"""

from __future__ import annotations

from collections.abc import Mapping

from smartcompute.billing.providers import (
    HexHmacSha256Provider,
    ProviderEvent,
    event_id_of,
    json_object,
    payment_event,
)


class GenericProvider(HexHmacSha256Provider):
    name = "generic"
    header = "X-Webhook-Signature"
    prefix = "sha256="

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        return payment_event(
            self.name,
            payload,
            event_id=event_id_of(payload.get("id")),
            event_type=payload.get("type") if isinstance(payload.get("type"), str) else None,
            occurred_at=payload.get("created_at"),
        )
