"""Parsers for the payments-and-credits settings; `config/settings.py` declares each setting with one of them.

Prices, credit packs and plans are short strings so they fit one environment variable each:
- `JOB_PRICES`: `type=base+per_1k,...`; a job costs `base + per_1k * ceil(points / 1000)` credits, where
  points are timestamps x metrics.
- `CREDIT_PACKS`, `CREDIT_PLANS`: `name:credits:price,...`, the price in `PRICE_CURRENCY`.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation

from smartcompute.numbers import is_whole_number

SECRET_REFERENCE = re.compile(r"^(vault|aws-sm):[^#\s]+#[^#\s]+$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def is_secret_reference(value: str) -> bool:
    return bool(SECRET_REFERENCE.match(value))


def webhook_secret(value: str) -> str:
    """A plain secret of 16+ characters, or a `vault:`/`aws-sm:` reference resolved at start-up."""
    if value.startswith(("vault:", "aws-sm:")):
        if not is_secret_reference(value):
            raise ValueError("a secret reference must be vault:<path>#<key> or aws-sm:<secret id>#<key>")
        return value
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def standard_webhooks_secret(value: str) -> str:
    """One or more `whsec_<base64>` secrets separated by spaces (several while rotating), or a reference."""
    if is_secret_reference(value):
        return value
    for secret in value.split():
        if not secret.startswith("whsec_"):
            raise ValueError("must be whsec_<base64> (several separated by spaces while rotating)")
        try:
            if len(base64.b64decode(secret[len("whsec_") :], validate=True)) < 16:
                raise ValueError
        except ValueError:
            raise ValueError("must be whsec_ followed by base64 of at least 16 bytes") from None
    return value


def plain_or_reference(value: str) -> str:
    if value.startswith(("vault:", "aws-sm:")) and not is_secret_reference(value):
        raise ValueError("a secret reference must be vault:<path>#<key> or aws-sm:<secret id>#<key>")
    return value


def http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def job_prices(value: str) -> tuple[tuple[str, int, int], ...]:
    prices = []
    for item in _items(value):
        name, _, cost = item.partition("=")
        base, _, per_1k = cost.partition("+")
        whole = is_whole_number(base.strip()) and is_whole_number((per_1k or "0").strip())
        if not _NAME.match(name.strip()) or not whole:
            raise ValueError(f"{item!r} is not type=base+per_1k with whole credits")
        prices.append((name.strip(), int(base), int(per_1k or 0)))
    return tuple(prices)


def products(value: str) -> tuple[tuple[str, int, Decimal], ...]:
    """`name:credits:price,...` for credit packs and plans."""
    found = []
    for item in _items(value):
        parts = [part.strip() for part in item.split(":")]
        try:
            name, credits, price = parts
            amount = Decimal(price)
        except (ValueError, InvalidOperation):
            raise ValueError(f"{item!r} is not name:credits:price") from None
        if not _NAME.match(name) or not is_whole_number(credits) or int(credits) <= 0 or not amount > 0:
            raise ValueError(f"{item!r} needs a lowercase name, positive whole credits and a positive price")
        found.append((name, int(credits), amount))
    if len({name for name, _, _ in found}) != len(found):
        raise ValueError("names must be unique")
    return tuple(found)


def percent(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be a number of percent") from None
    if not 0 <= number < 100:
        raise ValueError("must be from 0 to 100 percent")
    return number


def _items(value: str) -> list[str]:
    return [item for item in (part.strip() for part in value.split(",")) if item]
