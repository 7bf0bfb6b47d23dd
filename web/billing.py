"""Credits: `GET /v1/billing/balance`, `GET /v1/billing/ledger` (newest first, paginated) and the 402 problem.

Credits are the account's money: only owners hold `billing:read`.
"""

from __future__ import annotations

from flask import Blueprint

from smartcompute.billing import ledger, prices
from smartcompute.billing.models import LedgerEntry
from smartcompute.billing.schemas import BalanceView, JobPrice, LedgerEntryView, LedgerPage, Product
from web.access import scope
from web.auth import current_principal
from web.parameters import Page
from web.problems import Problem
from web.routes import Reply, operation
from web.runtime import db, web_runtime

billing = Blueprint("billing", __name__, url_prefix="/v1/billing")


def insufficient_credits(error: ledger.InsufficientCredits) -> Problem:
    return Problem(
        402,
        f"this job costs {error.needed} credits and {error.available} are available; "
        f"an account owner can buy credits with POST /v1/payments",
        kind="insufficient-credits",
        errors=[{"field": "credits", "message": f"needed {error.needed}, available {error.available}"}],
    )


def entry_view(entry: LedgerEntry) -> LedgerEntryView:
    return LedgerEntryView(
        id=str(entry.id),
        amount=entry.amount,
        reason=entry.reason,
        job_id=str(entry.job_id) if entry.job_id else None,
        payment_id=str(entry.payment_id) if entry.payment_id else None,
        note=entry.note,
        created_at=entry.created_at.isoformat(),
    )


@operation(
    billing,
    "GET",
    "/balance",
    "getBalance",
    "Credits: balance, held for jobs, available; prices and products",
    access=scope("billing:read"),
    responses={200: Reply("The balance", BalanceView)},
)
def balance() -> BalanceView:
    settings = web_runtime().settings
    current = ledger.balance_of(db(), current_principal().account_id)
    return BalanceView(
        balance=current.balance,
        held=current.held,
        available=current.available,
        prices=[JobPrice(type=name, base=base, per_1000_points=per_1k) for name, base, per_1k in settings.JOB_PRICES],
        products=[
            Product(
                kind=product.kind,
                name=product.name,
                credits=product.credits,
                price=str(product.price),
                currency=product.currency,
            )
            for product in prices.catalogue(settings)
        ],
    )


@operation(
    billing,
    "GET",
    "/ledger",
    "listLedger",
    "Every change of the balance, newest first",
    access=scope("billing:read"),
    query=Page,
    responses={200: Reply("A page of entries", LedgerPage)},
)
def entries(query: Page) -> LedgerPage:
    rows, next_cursor = ledger.entries(db(), current_principal().account_id, limit=query.limit, cursor=query.cursor)
    return LedgerPage(items=[entry_view(row) for row in rows], next_cursor=next_cursor)
