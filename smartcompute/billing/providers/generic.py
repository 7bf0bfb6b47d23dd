"""The seed's scheme: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.

Body: `{"id": "evt_...", "type": "payment.<status>", "created_at": ISO-8601,
"data": {"payment_id": "<our payment id>", "status": "<status>", "amount": "0.0021", "currency": "BTC"}}`;
`data.status` wins over the type's suffix.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

from smartcompute.billing.providers import (
    PAYMENT_STATUSES, InvalidSignature, ProviderEvent, event_id_of, json_object, required_header, same, text,
)


class GenericProvider:
    name = "generic"
    header = "X-Webhook-Signature"

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, raw_body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, raw_body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        if not same(required_header(headers, self.header), self.sign(raw_body)):
            raise InvalidSignature(f"the {self.header} header does not match the body")

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        event_type = payload.get("type") if isinstance(payload.get("type"), str) else None
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        status = data.get("status") or (event_type or "").rpartition(".")[2]
        return ProviderEvent(
            provider=self.name, event_id=event_id_of(payload.get("id")), event_type=event_type, payload=payload,
            status=status if status in PAYMENT_STATUSES else None, payment_id=text(data.get("payment_id")),
            provider_payment_id=text(data.get("provider_payment_id")), amount=text(data.get("amount"), 64),
            currency=(text(data.get("currency"), 16) or "").upper() or None, occurred_at=text(payload.get("created_at"), 64),
        )
