"""Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix seconds) and
`webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
where the key is the base64 after `whsec_`. Several signatures let the sender rotate secrets; we accept a
match with any of ours (STANDARD_WEBHOOKS_SECRET may hold several, space-separated). Timestamps further
than the tolerance in the past or future are refused, so a captured delivery cannot be replayed later.

Body: `{"type": "payment.<status>", "timestamp": ISO-8601, "data": {"payment_id", "status", "amount",
"currency", "provider_payment_id"}}`; the event id is the `webhook-id` header.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from smartcompute import standard_webhooks
from smartcompute.numbers import is_whole_number
from smartcompute.billing.providers import (
    DEFAULT_MAX_BODY_BYTES,
    InvalidSignature,
    ProviderEvent,
    event_id_of,
    json_object,
    payment_event,
    required_header,
    same,
    text,
)


class StandardWebhooksProvider:
    name = "standard-webhooks"
    max_body_bytes = DEFAULT_MAX_BODY_BYTES

    def __init__(self, secrets: str, *, tolerance: int = 300):
        self._keys = [standard_webhooks.key_of(secret) for secret in secrets.split()]
        self._tolerance = tolerance

    def sign(self, message_id: str, timestamp: int, raw_body: bytes, key_index: int = 0) -> str:
        return standard_webhooks.signature(self._keys[key_index], message_id, timestamp, raw_body)

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        message_id = required_header(headers, "webhook-id")
        stamp = required_header(headers, "webhook-timestamp")
        given = required_header(headers, "webhook-signature").split()
        if not is_whole_number(stamp):
            raise InvalidSignature("the webhook-timestamp header is not Unix seconds")
        if abs(time.time() - int(stamp)) > self._tolerance:
            raise InvalidSignature("the webhook-timestamp is too old or too new")
        expected = [self.sign(message_id, int(stamp), raw_body, index) for index in range(len(self._keys))]
        # Compare every pair, so the time taken does not depend on which one matched.
        if not [1 for signature in given for wanted in expected if same(signature, wanted)]:
            raise InvalidSignature("no webhook-signature matches the body")

    def read(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        self.verify(headers, raw_body)
        return self.parse(headers, raw_body)

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        return payment_event(
            self.name,
            payload,
            event_id=event_id_of(headers.get("webhook-id")),
            event_type=text(payload.get("type"), 100),
            occurred_at=payload.get("timestamp"),
        )
