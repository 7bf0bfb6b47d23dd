"""Hosts, billing (balance, ledger, buying credits, payment status), the audit log and, for staff, the
dead-lettered payment events, each read and changed through the API operation that does the same."""

from __future__ import annotations

import uuid
from typing import Any, get_args

from flask import current_app, request
from werkzeug.wrappers import Response

from smartcompute.billing.schemas import Currency, PaymentRequest
from smartcompute.jobs import services as job_services
from web import account as account_api, billing as billing_api, hosts as hosts_api, jobs as jobs_api
from web import payments as payments_api
from web.dashboard.pages import api, back, check_access, dashboard, page, principal
from web.parameters import AuditFilters, Page
from web.routes import validated
from web.runtime import db

CURRENCIES = get_args(Currency)


def _cursor() -> dict[str, str]:
    return {"cursor": request.args["cursor"]} if request.args.get("cursor") else {}


@dashboard.get("/hosts")
def hosts() -> str:
    listed = api(hosts_api.index, query=validated(hosts_api.HostPage, _cursor()))
    return page("hosts.html", hosts=listed.items, next_cursor=listed.next_cursor)


def _learned(last_job_id: str | None) -> dict[str, Any]:
    """What the host's latest anomaly job says it learned: the metrics and the season found for each."""
    if last_job_id is None:
        return {}
    try:
        job = job_services.get_job(db(), principal(), uuid.UUID(last_job_id))
    except job_services.JobNotFound:
        return {}
    return ((job.result or {}).get("summary") or {}).get("seasons") or {}


@dashboard.get("/hosts/<path:name>")
def host(name: str) -> str:
    found = api(hosts_api.show, name=name)
    check_access(jobs_api.index)
    recent, _ = job_services.list_jobs(db(), principal(), host=found.name, limit=10)
    return page("host.html", host=found, jobs=recent, learned=_learned(found.last_job.id if found.last_job else None))


@dashboard.get("/billing")
def billing() -> str:
    balance = api(billing_api.balance)
    ledger = api(billing_api.entries, query=validated(Page, _cursor()))
    payments = api(payments_api.index, query=Page(limit=10))
    providers = sorted(current_app.extensions["smartcompute_payment_clients"])
    return page(
        "billing.html",
        balance=balance,
        ledger=ledger.items,
        next_cursor=ledger.next_cursor,
        payments=payments.items,
        providers=providers,
        currencies=CURRENCIES,
    )


@dashboard.post("/billing/payments")
def buy_credits() -> Response:
    kind, _, product = request.form.get("product", "").partition(":")
    body = validated(
        PaymentRequest,
        {
            "kind": kind,
            "product": product,
            "provider": request.form.get("provider"),
            "currency": request.form.get("currency"),
        },
    )
    payment = api(payments_api.create, body=body)
    return back("dashboard.payment", payment_id=payment.id)


@dashboard.get("/billing/payments/<payment_id>")
def payment(payment_id: str) -> str:
    return page("payment.html", payment=api(payments_api.show, payment_id=payment_id))


@dashboard.get("/audit")
def audit() -> str:
    filters = {name: request.args[name] for name in ("action", "cursor") if request.args.get(name)}
    events = api(account_api.audit_events, query=validated(AuditFilters, filters))
    return page("audit.html", events=events.items, next_cursor=events.next_cursor, filters=filters)


@dashboard.get("/staff/payment-events")
def dead_payment_events() -> str:
    events = api(payments_api.list_dead, query=validated(Page, _cursor()))
    return page("dead_letters.html", events=events.items, next_cursor=events.next_cursor)


@dashboard.post("/staff/payment-events/<event_id>/replay")
def replay_payment_event(event_id: str) -> Response:
    api(payments_api.replay, event_id=event_id)
    return back("dashboard.dead_payment_events")
