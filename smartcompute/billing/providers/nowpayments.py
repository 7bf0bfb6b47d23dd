"""NOWPayments IPN: `x-nowpayments-sig` is the hex HMAC-SHA512, with the IPN secret, of the body's JSON with
its keys sorted and no whitespace.

That signature is over a re-serialisation, not the bytes sent, so verifying needs the body's structure: the
body (at most `max_body_bytes`) is parsed once, written in both canonical forms in time linear in its size (no
field is interpreted), and the HMAC compared in constant time; only then is the event read, from the same parse. NOWPayments' own examples serialise two ways, both accepted: JavaScript's
`JSON.stringify(sortObject(body))` (unicode as is, JavaScript number text) and Python's
`json.dumps(body, sort_keys=True, separators=(",", ":"))` (unicode escaped, Python number text).

An IPN has no event id; ours is `<payment_id>:<payment_status>:<digest of the canonical body>`, so a repeated
IPN is recognised and a changed one (more paid while confirming) is a new event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from datetime import datetime, UTC
from typing import Any
from collections.abc import Mapping

from smartcompute.billing.providers import (
    InvalidEvent,
    InvalidSignature,
    ProviderEvent,
    TooDeeplyNested,
    load_json,
    required_header,
    same,
    text,
)

STATUSES = {
    "waiting": "pending",
    "confirming": "pending",
    "confirmed": "pending",
    "sending": "pending",
    "partially_paid": "confirmed",
    "finished": "confirmed",
    "failed": "failed",
    "refunded": "refunded",
    "expired": "expired",
}
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,8})$")
_EXACT_INTEGERS = 2**53


def _read(raw_body: bytes) -> Any:
    """The body, parsed once: its canonical forms for the signature and the event are made from this."""
    try:
        return load_json(raw_body)
    except TooDeeplyNested as error:
        raise InvalidSignature(f"{error}, so its signature cannot be checked") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidSignature("the body is not JSON, so its signature cannot be checked") from None


def js_number(number: int | float) -> str:
    """ECMAScript Number::toString of the number as a double (what JSON.stringify writes; `null` for what no
    double holds). Python's repr picks the same shortest digits that round-trip; only the layout differs."""
    if isinstance(number, int) and abs(number) <= _EXACT_INTEGERS:
        return str(number)  # the double holds it exactly, and JavaScript writes it as Python does
    try:
        number = float(number)
    except OverflowError:  # an integer beyond any double
        return "null"
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).rstrip("0")
    n = len(whole) + int(exponent or 0)  # the value is 0.<digits> x 10^n
    stripped = digits.lstrip("0")
    n, digits = n - (len(digits) - len(stripped)), stripped
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        body = f"{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return ("-" if number < 0 else "") + body


def _js_keys(keys: list[str]) -> list[str]:
    """JavaScript orders integer-like keys first, ascending, then the rest in insertion (here: sorted) order."""
    indexes = sorted((key for key in keys if _INDEX.match(key)), key=int)
    return indexes + sorted(key for key in keys if not _INDEX.match(key))


# Each form is written into one list of parts and joined once, so its cost is linear in the body: joining at every
# level copied each nested object's text again for each level above it.
def _write_js(value: Any, parts: list[str]) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parts.append(js_number(value))
        return
    if isinstance(value, list):  # NOWPayments' sortObject turns arrays into objects keyed "0", "1", ...
        parts.append("{")
        for index, item in enumerate(value):
            parts.append(f'{"," if index else ""}"{index}":')
            _write_js(item, parts)
        parts.append("}")
        return
    if not isinstance(value, dict):
        parts.append(json.dumps(value, ensure_ascii=False))
        return
    parts.append("{")
    for position, key in enumerate(_js_keys(list(value))):
        parts.append(("," if position else "") + json.dumps(key, ensure_ascii=False) + ":")
        _write_js(value[key], parts)
    parts.append("}")


def _write_python(value: Any, parts: list[str]) -> None:
    if isinstance(value, list):
        parts.append("[")
        for position, item in enumerate(value):
            parts.append("," if position else "")
            _write_python(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        parts.append("{")
        for position, key in enumerate(sorted(value)):
            parts.append(("," if position else "") + json.dumps(key) + ":")
            _write_python(value[key], parts)
        parts.append("}")
    elif isinstance(value, float) and math.isfinite(value):
        parts.append(repr(value))  # as json.dumps writes a float
    elif isinstance(value, int) and not isinstance(value, bool):
        parts.append(str(value))
    else:  # text, true, false, null, and the non-finite floats json.dumps writes as Infinity and NaN
        parts.append(json.dumps(value))


def canonical_js(value: Any) -> str:
    """JavaScript's JSON.stringify(sortObject(body)): unicode as is, JavaScript number text."""
    parts: list[str] = []
    _write_js(value, parts)
    return "".join(parts)


def canonical_python(value: Any) -> str:
    """Python's json.dumps(body, sort_keys=True, separators=(",", ":")): unicode escaped, Python number text."""
    parts: list[str] = []
    _write_python(value, parts)
    return "".join(parts)


class NowPaymentsProvider:
    name = "nowpayments"
    header = "x-nowpayments-sig"
    # An IPN is one flat object of about 1 KB; its signature is over the parsed body, so this bounds the work
    # done for a delivery before it is known to be NOWPayments'.
    max_body_bytes = 16 * 1024

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, canonical: str) -> str:
        return hmac.new(self._secret, canonical.encode(), hashlib.sha512).hexdigest()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> tuple[Any, str]:
        """The parsed body and its JavaScript form, once the signature matches one of the two forms."""
        given = required_header(headers, self.header).lower()
        body = _read(raw_body)
        js_form = canonical_js(body)
        matches = [same(given, self.sign(form)) for form in (js_form, canonical_python(body))]
        if not any(matches):
            raise InvalidSignature(f"the {self.header} header does not match the body")
        return body, js_form

    def read(self, headers: Mapping[str, str], raw_body: bytes) -> ProviderEvent:
        body, js_form = self.verify(headers, raw_body)
        if not isinstance(body, dict):
            raise InvalidEvent("the body is not a JSON object")
        payment_id, state = text(body.get("payment_id")), text(body.get("payment_status"), 40)
        if payment_id is None or state is None:
            raise InvalidEvent("the IPN has no payment_id or payment_status")
        digest = hashlib.sha256(js_form.encode()).hexdigest()[:16]
        return ProviderEvent(
            provider=self.name,
            event_id=f"{payment_id}:{state}:{digest}",
            event_type=state,
            payload=body,
            status=STATUSES.get(state),
            payment_id=text(body.get("order_id")),
            provider_payment_id=payment_id,
            amount=text(body.get("actually_paid"), 64),
            currency=(text(body.get("pay_currency"), 16) or "").upper() or None,
            occurred_at=_millis(body.get("updated_at")),
        )


def _millis(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC).isoformat()
        except (OverflowError, OSError, ValueError):  # no time a result could name: the event still counts
            return None
    return None
