"""Buying credits: `POST /v1/payments` (`billing:write`), `GET /v1/payments`, `GET /v1/payments/{id}`
(`billing:read`); staff's dead letters and review queue."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, Flask, Response, current_app, json, request

from config import Settings
from config.logging import request_id_var
from smartcompute.billing import payments as billing_payments, prices, webhooks as billing_webhooks
from smartcompute.billing.clients import ProviderApiError, configured_clients
from smartcompute.billing.models import Payment
from smartcompute.billing.schemas import PaymentRequest, ReviewDecision
from web.after_response import publish_after_response
from web.auth import current_principal, requires, requires_staff
from web.billing import billing
from web.replies import actor, path_uuid, query_limit
from web.bodies import read_json
from web.problems import Problem
from web.runtime import db, web_runtime
from workers.publishing import publish_payment_event

log = logging.getLogger("smartcompute.web")
payments = Blueprint("payments", __name__, url_prefix="/v1/payments")
dead_letters = Blueprint("payment_dead_letters", __name__, url_prefix="/v1/admin/payment-events")
reviews = Blueprint("payment_reviews", __name__, url_prefix="/v1/admin/payments")


def init_payments(app: Flask, settings: Settings) -> None:
    app.extensions["smartcompute_payment_clients"] = configured_clients(settings)
    for blueprint in (billing, payments, dead_letters, reviews):
        app.register_blueprint(blueprint)


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def payment_view(payment: Payment) -> dict:
    def text(value):  # decimals without the column's trailing zeros: "0.00025", "10"
        return None if value is None else format(Decimal(value).normalize(), "f")

    return {
        "id": str(payment.id), "status": payment.status, "provider": payment.provider, "kind": payment.product_kind,
        "product": payment.product, "credits": payment.credits, "price": text(payment.price_amount),
        "price_currency": payment.price_currency, "pay_currency": payment.pay_currency,
        "pay_amount": text(payment.pay_amount), "pay_address": payment.pay_address,
        "checkout_url": payment.checkout_url, "expires_at": payment.expires_at.isoformat(),
        "settlement": payment.settlement, "amount_paid": text(payment.amount_paid), "credited": payment.credited,
        "created_at": payment.created_at.isoformat(), "review_reason": payment.review_reason,
    }


@payments.post("")
@requires("billing:write")
def create():
    wanted = read_json(PaymentRequest)
    settings = web_runtime().settings
    client = current_app.extensions["smartcompute_payment_clients"].get(wanted.provider)
    if client is None:
        raise Problem(422, f"the {wanted.provider} provider is not configured here", kind="validation-error",
                      errors=[{"field": "provider", "message": "not configured"}])
    try:
        product = prices.find_product(settings, wanted.kind, wanted.product)
    except prices.UnknownProduct as error:
        raise Problem(422, str(error), kind="validation-error", errors=[{"field": "product", "message": str(error)}]) from None
    principal = current_principal()
    payment = billing_payments.open_payment(
        db(), account_id=principal.account_id, user_id=principal.user_id, product=product, provider=wanted.provider,
        pay_currency=wanted.currency, expiry=timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES))
    callback = f"{settings.PUBLIC_BASE_URL}/v1/webhooks/payments/{wanted.provider}" if settings.PUBLIC_BASE_URL else None
    try:
        checkout = client.create(payment, callback_url=callback)
    except ProviderApiError as error:
        billing_payments.abandon(db(), payment.id)
        log.warning("provider refused a payment", extra={"provider": wanted.provider, "error": str(error)})
        raise Problem(502, f"{wanted.provider}: {error}; try again", kind="provider-unavailable") from None
    payment = billing_payments.attach_checkout(db(), payment.id, checkout)
    return _json(payment_view(payment), 201, {"Location": f"/v1/payments/{payment.id}"})


@payments.get("/<payment_id>")
@requires("billing:read")
def show(payment_id: str):
    try:
        found = billing_payments.get_payment(db(), current_principal().account_id, uuid.UUID(payment_id))
    except ValueError:
        found = None
    if found is None:
        raise Problem(404, "no such payment", kind="not-found")
    return _json(payment_view(found))


@payments.get("")
@requires("billing:read")
def index():
    rows, next_cursor = billing_payments.list_payments(
        db(), current_principal().account_id, limit=query_limit(default=20), cursor=request.args.get("cursor"))
    return _json({"items": [payment_view(row) for row in rows], "next_cursor": next_cursor})


@dead_letters.get("/dead")
@requires_staff
def list_dead():
    events, next_cursor = billing_webhooks.dead_letters(db(), limit=query_limit(default=20),
                                                        cursor=request.args.get("cursor"))
    return _json({"items": [{"id": str(e.id), "provider": e.provider, "event_id": e.event_id, "event_type": e.event_type,
                             "attempts": e.attempts, "error": e.error, "received_at": e.received_at.isoformat(),
                             "normalized": e.normalized} for e in events], "next_cursor": next_cursor})


@dead_letters.post("/<event_id>/replay")
@requires_staff
def replay(event_id: str):
    try:
        stored_id = uuid.UUID(event_id)
        billing_webhooks.replay(db(), stored_id)
    except (ValueError, billing_webhooks.EventNotFound):
        raise Problem(404, "no dead-lettered payment event with this id", kind="not-found") from None
    request_id = request_id_var.get()
    publish_after_response("event", stored_id, lambda celery: publish_payment_event(celery, stored_id, request_id),
                           billing_webhooks.mark_unpublished)
    return _json({"id": event_id, "status": "received"}, 202)


@reviews.get("/review")
@requires_staff
def review_queue():
    rows, next_cursor = billing_payments.in_review(db(), limit=query_limit(default=20), cursor=request.args.get("cursor"))
    return _json({"items": [{**payment_view(row), "account_id": str(row.account_id)} for row in rows],
                  "next_cursor": next_cursor})


@reviews.post("/<payment_id>/review")
@requires_staff
def resolve_review(payment_id: str):
    """Credit or reject a payment whose confirmation credited nothing; audited with the staff member's note."""
    body = read_json(ReviewDecision)
    session = db()
    try:
        payment = billing_payments.resolve_review(session, actor(), path_uuid(payment_id, "payment in review"),
                                                  decision=body.decision, credits=body.credits, note=body.note)
    except billing_payments.NotInReview:
        raise Problem(404, "no payment in review with this id", kind="not-found") from None
    except ValueError as error:
        raise Problem(422, f"credits {error}", kind="validation-error",
                      errors=[{"field": "credits", "message": str(error)}]) from None
    session.commit()
    return _json({**payment_view(payment), "account_id": str(payment.account_id)})
