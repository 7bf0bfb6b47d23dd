"""Payment providers' webhooks: each reads a delivery (`read`) by verifying it over the raw body, in constant
time, before anything parses it, then turning it into one `ProviderEvent` (provider, event id, payment ids,
status, amount, currency, time). Statuses are ours: pending, confirmed, failed, expired, refunded (None when
the event says nothing about a payment's state).

A delivery's URL needs no credentials, so what is done before its signature holds is bounded: each provider
takes at most `max_body_bytes` (well under the API's 10 MB; the API answers 413 to more without reading it),
and the one provider whose signature is over a parsed body (NOWPayments) parses it once, in linear time.

Provider names are the operator contract: `generic`, `coinbase-commerce`, `btcpay`, `nowpayments`,
`standard-webhooks`. A provider whose secret is not configured is not offered at all (its URL is 404).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field, fields
from typing import Any, Protocol
from collections.abc import Callable, Mapping

from smartcompute import jsoncodec

PAYMENT_STATUSES = ("pending", "confirmed", "failed", "expired", "refunded")


class InvalidSignature(ValueError):
    """The delivery is not from the provider; nothing about it may be stored."""


class InvalidEvent(ValueError):
    """Correctly signed, but not an event we can read."""


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_id: str
    event_type: str | None
    payload: dict[str, Any]
    status: str | None = None
    payment_id: str | None = None  # ours, when the provider echoes the metadata we sent
    provider_payment_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    occurred_at: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)  # e.g. {"overpaid": True} from the provider

    def normalized(self) -> dict[str, Any]:
        """Every field but the provider's payload (asdict would deep-copy the payload only to drop it)."""
        view = {each.name: getattr(self, each.name) for each in fields(self) if each.name != "payload"}
        view["hints"] = dict(self.hints)
        return view


class WebhookProvider(Protocol):
    name: str
    max_body_bytes: int

    def read(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        """The event; InvalidSignature before anything but the signature's own input is read, InvalidEvent for a
        signed body that is not an event we can read."""
        ...


# Providers' events are a few KB (a Coinbase Commerce charge with its payments and timeline is the largest).
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison (time independent of where the two differ)."""
    given = given.encode() if isinstance(given, str) else given
    expected = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(given, expected)


def required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    if not value:
        raise InvalidSignature(f"the {name} header is missing")
    return value.strip()


class HexHmacSha256Provider:
    """Providers whose signature header is the hex HMAC-SHA256 of the raw body (after an optional prefix)."""

    name: str
    header: str
    prefix: str = ""
    max_body_bytes = DEFAULT_MAX_BODY_BYTES

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def read(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        self.verify(headers, raw_body)
        return self.parse(headers, raw_body)

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        raise NotImplementedError

    def sign(self, raw_body: bytes) -> str:
        return self.prefix + hmac.new(self._secret, raw_body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        given = required_header(headers, self.header)
        # Hex digits are case-insensitive; compare_digest (in same) runs in constant time.
        if not same(given[: len(self.prefix)] + given[len(self.prefix) :].lower(), self.sign(raw_body)):
            raise InvalidSignature(f"the {self.header} header does not match the body")


# Deeper than any provider's events; what is stored and signed is walked recursively after parsing (NUL
# replacement, NOWPayments' sorted form), and Python's parser itself fails at about 1,000 levels.
MAX_JSON_DEPTH = 100


class TooDeeplyNested(ValueError):
    def __init__(self) -> None:
        super().__init__(f"the body nests deeper than {MAX_JSON_DEPTH} levels")


def load_json(raw_body: bytes, **options: Any) -> Any:
    """The body parsed (`options` as json.loads takes them); TooDeeplyNested past MAX_JSON_DEPTH, ValueError when
    it is not JSON."""
    try:
        value = json.loads(raw_body, **options)
    except RecursionError:
        raise TooDeeplyNested() from None
    for container, path in jsoncodec.containers(value):
        if container and len(path) >= MAX_JSON_DEPTH:  # a member or item below the deepest level allowed
            raise TooDeeplyNested()
    return value


def json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = load_json(raw_body)
    except TooDeeplyNested as error:
        raise InvalidEvent(str(error)) from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidEvent("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("the body is not a JSON object")
    return payload


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object where the provider's docs promise one, or {} when the sender put anything else there."""
    return value if isinstance(value, dict) else {}


def text(value: Any, limit: int = 255) -> str | None:
    """A short string field, or None (numbers become their text)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)) and 0 < len(str(value)) <= limit:
        return str(value)
    return None


def event_id_of(value: Any) -> str:
    found = text(value)
    if found is None:
        raise InvalidEvent("the event has no id")
    return found


def payment_event(
    provider: str, payload: dict[str, Any], *, event_id: str, event_type: str | None, occurred_at: Any
) -> ProviderEvent:
    """The event of a body in our own shape (the generic scheme's and Standard Webhooks'): `data` holds the
    payment's fields, and `data.status` wins over the suffix of the event's type."""
    data = as_object(payload.get("data"))
    status = data.get("status") or (event_type or "").rpartition(".")[2]
    return ProviderEvent(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=status if status in PAYMENT_STATUSES else None,
        payment_id=text(data.get("payment_id")),
        provider_payment_id=text(data.get("provider_payment_id")),
        amount=text(data.get("amount"), 64),
        currency=(text(data.get("currency"), 16) or "").upper() or None,
        occurred_at=text(occurred_at, 64),
    )


def configured_providers(secrets: Mapping[str, str | None], *, tolerance: int = 300) -> dict[str, WebhookProvider]:
    """Providers whose secret is set, by their URL name. `secrets` maps URL names to resolved secrets."""
    from smartcompute.billing.providers.btcpay import BTCPayProvider
    from smartcompute.billing.providers.coinbase_commerce import CoinbaseCommerceProvider
    from smartcompute.billing.providers.generic import GenericProvider
    from smartcompute.billing.providers.nowpayments import NowPaymentsProvider
    from smartcompute.billing.providers.standard_webhooks import StandardWebhooksProvider

    factories: dict[str, Callable[[str], WebhookProvider]] = {
        "generic": GenericProvider,
        "coinbase-commerce": CoinbaseCommerceProvider,
        "btcpay": BTCPayProvider,
        "nowpayments": NowPaymentsProvider,
        "standard-webhooks": lambda secret: StandardWebhooksProvider(secret, tolerance=tolerance),
    }
    return {name: factory(secret) for name, factory in factories.items() if (secret := secrets.get(name))}
