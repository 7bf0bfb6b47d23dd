"""What things cost and what can be bought, from settings: job prices, credit packs and plans."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

from config import Settings


class UnknownProduct(LookupError):
    pass


@dataclass(frozen=True)
class Product:
    kind: str  # "pack" or "plan"
    name: str
    credits: int
    price: Decimal
    currency: str


def job_points(data: Mapping[str, Any]) -> int:
    """Timestamps x metrics: the size the price scales with."""
    timestamps = data.get("timestamps") or []
    metrics = data.get("metrics") or {}
    return len(timestamps) * max(1, len(metrics))


def job_cost(settings: Settings, job_type: str, data: Mapping[str, Any]) -> int:
    """`base + per_1k * ceil(points / 1000)` credits for the job's type (0 for a type without a price)."""
    for name, base, per_1k in settings.JOB_PRICES:
        if name == job_type:
            return base + per_1k * math.ceil(job_points(data) / 1000)
    return 0


def catalogue(settings: Settings) -> list[Product]:
    return [
        Product(kind, name, credits, price, settings.PRICE_CURRENCY)
        for kind, items in (("pack", settings.CREDIT_PACKS), ("plan", settings.CREDIT_PLANS))
        for name, credits, price in items
    ]


def find_product(settings: Settings, kind: str, name: str) -> Product:
    for product in catalogue(settings):
        if product.kind == kind and product.name == name:
            return product
    raise UnknownProduct(f"there is no credit {kind} named {name!r}")
