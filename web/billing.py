"""Credits: `GET /v1/billing/balance`, `GET /v1/billing/ledger` (newest first, paginated) and the 402 problem.

Both need `billing:read`, which only owners hold.
"""
from __future__ import annotations

from flask import Blueprint, Response, json, request

from smartcompute.billing import ledger, prices
from smartcompute.billing.models import LedgerEntry
from web.auth import current_principal, requires
from web.problems import Problem
from web.replies import query_limit
from web.runtime import db, web_runtime

billing = Blueprint("billing", __name__, url_prefix="/v1/billing")


def insufficient_credits(error: ledger.InsufficientCredits) -> Problem:
    return Problem(402, f"this job costs {error.needed} credits and {error.available} are available; "
                        f"an account owner can buy credits with POST /v1/payments", kind="insufficient-credits",
                   errors=[{"field": "credits", "message": f"needed {error.needed}, available {error.available}"}])


def entry_view(entry: LedgerEntry) -> dict:
    return {"id": str(entry.id), "amount": entry.amount, "reason": entry.reason,
            "job_id": str(entry.job_id) if entry.job_id else None,
            "payment_id": str(entry.payment_id) if entry.payment_id else None,
            "note": entry.note, "created_at": entry.created_at.isoformat()}


@billing.get("/balance")
@requires("billing:read")
def balance():
    settings = web_runtime().settings
    current = ledger.balance_of(db(), current_principal().account_id)
    body = {"balance": current.balance, "held": current.held, "available": current.available,
            "prices": [{"type": name, "base": base, "per_1000_points": per_1k} for name, base, per_1k in settings.JOB_PRICES],
            "products": [{"kind": p.kind, "name": p.name, "credits": p.credits, "price": str(p.price), "currency": p.currency}
                         for p in prices.catalogue(settings)]}
    return Response(json.dumps(body), mimetype="application/json")


@billing.get("/ledger")
@requires("billing:read")
def entries():
    rows, next_cursor = ledger.entries(db(), current_principal().account_id, limit=query_limit(default=20),
                                       cursor=request.args.get("cursor"))
    return Response(json.dumps({"items": [entry_view(row) for row in rows], "next_cursor": next_cursor}),
                    mimetype="application/json")
