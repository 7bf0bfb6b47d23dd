"""NOWPayments IPN: `x-nowpayments-sig` is the hex HMAC-SHA512, with the IPN secret, of the body's JSON with
its keys sorted and no whitespace.

That signature is over a re-serialisation, not the bytes sent, so verifying needs the body's structure: it is
read into a canonical form only (no field is interpreted) and the HMAC compared in constant time before the
event is parsed. NOWPayments' own examples serialise two ways, both accepted: JavaScript's
`JSON.stringify(sortObject(body))` (unicode as is, JavaScript number text) and Python's
`json.dumps(body, sort_keys=True, separators=(",", ":"))` (unicode escaped, Python number text).

An IPN has no event id; ours is `<payment_id>:<payment_status>:<digest of the canonical body>`, so a repeated
IPN is recognised and a changed one (more paid while confirming) is a new event.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from smartcompute.billing.providers import (
    InvalidEvent, InvalidSignature, ProviderEvent, TooDeeplyNested, json_object, load_json, required_header, same,
    text,
)

STATUSES = {
    "waiting": "pending", "confirming": "pending", "confirmed": "pending", "sending": "pending",
    "partially_paid": "confirmed", "finished": "confirmed", "failed": "failed", "refunded": "refunded",
    "expired": "expired",
}
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,8})$")


class _Number(str):
    """A JSON number kept as the text it was sent as."""


def _read(raw_body: bytes) -> Any:
    try:
        return load_json(raw_body, parse_float=_Number, parse_int=_Number)
    except TooDeeplyNested as error:
        raise InvalidSignature(f"{error}, so its signature cannot be checked") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidSignature("the body is not JSON, so its signature cannot be checked") from None


def js_number(literal: str) -> str:
    """ECMAScript Number::toString of the double nearest the literal (what JSON.stringify writes)."""
    number = float(literal)
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    digits_text = "".join(map(str, digits))
    k, n = len(digits), len(digits) + exponent
    if k <= n <= 21:
        body = digits_text + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits_text[:n] + "." + digits_text[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits_text
    else:
        mantissa = digits_text[0] + ("." + digits_text[1:] if k > 1 else "")
        body = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return ("-" if number < 0 else "") + body


def _js_keys(keys: list[str]) -> list[str]:
    """JavaScript orders integer-like keys first, ascending, then the rest in insertion (here: sorted) order."""
    indexes = sorted((key for key in keys if _INDEX.match(key)), key=int)
    return indexes + sorted(key for key in keys if not _INDEX.match(key))


def canonical_js(value: Any) -> str:
    if isinstance(value, _Number):
        return js_number(value)
    if isinstance(value, list):  # NOWPayments' sortObject turns arrays into objects keyed "0", "1", ...
        value = {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key, ensure_ascii=False)}:{canonical_js(value[key])}"
                              for key in _js_keys(list(value))) + "}"
    return json.dumps(value, ensure_ascii=False)


def canonical_python(value: Any) -> str:
    if isinstance(value, _Number):
        return repr(float(value)) if any(mark in value for mark in ".eE") else str(int(value))
    if isinstance(value, list):
        return "[" + ",".join(canonical_python(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{canonical_python(value[key])}" for key in sorted(value)) + "}"
    return json.dumps(value)


class NowPaymentsProvider:
    name = "nowpayments"
    header = "x-nowpayments-sig"

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, canonical: str) -> str:
        return hmac.new(self._secret, canonical.encode(), hashlib.sha512).hexdigest()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        given = required_header(headers, self.header).lower()
        body = _read(raw_body)
        matches = [same(given, self.sign(form(body))) for form in (canonical_js, canonical_python)]
        if not any(matches):
            raise InvalidSignature(f"the {self.header} header does not match the body")

    def parse(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        payload = json_object(raw_body)
        payment_id, state = text(payload.get("payment_id")), text(payload.get("payment_status"), 40)
        if payment_id is None or state is None:
            raise InvalidEvent("the IPN has no payment_id or payment_status")
        digest = hashlib.sha256(canonical_js(_read(raw_body)).encode()).hexdigest()[:16]
        return ProviderEvent(
            provider=self.name, event_id=f"{payment_id}:{state}:{digest}", event_type=state, payload=payload,
            status=STATUSES.get(state), payment_id=text(payload.get("order_id")), provider_payment_id=payment_id,
            amount=text(payload.get("actually_paid"), 64), currency=(text(payload.get("pay_currency"), 16) or "").upper() or None,
            occurred_at=_millis(payload.get("updated_at")),
        )


def _millis(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):  # no time a result could name: the event still counts
            return None
    return None
