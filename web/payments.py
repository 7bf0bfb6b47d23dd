"""Buying credits: `POST /v1/payments` (`billing:write`), `GET /v1/payments`, `GET /v1/payments/{id}`
(`billing:read`); staff's dead letters and review queue."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, Flask, current_app

from config import Settings
from config.logging import request_id_var
from smartcompute.billing import payments as billing_payments, prices, webhooks as billing_webhooks
from smartcompute.billing.clients import ProviderApiError, configured_clients
from smartcompute.billing.models import Payment
from smartcompute.billing.schemas import (
    DeadPaymentEvent,
    DeadPaymentEventList,
    PaymentList,
    PaymentRequest,
    PaymentView,
    ReplayedEvent,
    ReviewDecision,
    ReviewedPayment,
    ReviewQueue,
)
from web.access import STAFF, scope
from web.after_response import publish_after_response
from web.auth import current_principal
from web.billing import billing
from web.parameters import Page
from web.problems import Problem
from web.replies import actor, path_uuid
from web.routes import Answer, Reply, operation
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


def payment_fields(payment: Payment) -> dict:
    def text(value):  # decimals without the column's trailing zeros: "0.00025", "10"
        return None if value is None else format(Decimal(value).normalize(), "f")

    return {
        "id": str(payment.id),
        "status": payment.status,
        "provider": payment.provider,
        "kind": payment.product_kind,
        "product": payment.product,
        "credits": payment.credits,
        "price": text(payment.price_amount),
        "price_currency": payment.price_currency,
        "pay_currency": payment.pay_currency,
        "pay_amount": text(payment.pay_amount),
        "pay_address": payment.pay_address,
        "checkout_url": payment.checkout_url,
        "expires_at": payment.expires_at.isoformat(),
        "settlement": payment.settlement,
        "amount_paid": text(payment.amount_paid),
        "credited": payment.credited,
        "created_at": payment.created_at.isoformat(),
        "review_reason": payment.review_reason,
    }


def _reviewed(payment: Payment) -> ReviewedPayment:
    return ReviewedPayment(**payment_fields(payment), account_id=str(payment.account_id))


@operation(
    payments,
    "POST",
    "",
    "createPayment",
    "Buy a credit pack or plan with crypto",
    access=scope("billing:write"),
    body=PaymentRequest,
    responses={
        201: Reply("Created: pay at checkout_url or pay_address", PaymentView, {"Location": "The payment's URL"}),
        422: "Unknown product, provider or currency",
        502: "The provider is unavailable",
    },
)
def create(body: PaymentRequest) -> Answer:
    settings = web_runtime().settings
    client = current_app.extensions["smartcompute_payment_clients"].get(body.provider)
    if client is None:
        raise Problem(
            422,
            f"the {body.provider} provider is not configured here",
            kind="validation-error",
            errors=[{"field": "provider", "message": "not configured"}],
        )
    try:
        product = prices.find_product(settings, body.kind, body.product)
    except prices.UnknownProduct as error:
        raise Problem(
            422, str(error), kind="validation-error", errors=[{"field": "product", "message": str(error)}]
        ) from None
    principal = current_principal()
    payment = billing_payments.open_payment(
        db(),
        account_id=principal.account_id,
        user_id=principal.user_id,
        product=product,
        provider=body.provider,
        pay_currency=body.currency,
        expiry=timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES),
    )
    callback = f"{settings.PUBLIC_BASE_URL}/v1/webhooks/payments/{body.provider}" if settings.PUBLIC_BASE_URL else None
    try:
        checkout = client.create(payment, callback_url=callback)
    except ProviderApiError as error:
        billing_payments.abandon(db(), payment.id)
        log.warning("provider refused a payment", extra={"provider": body.provider, "error": str(error)})
        raise Problem(502, f"{body.provider}: {error}; try again", kind="provider-unavailable") from None
    payment = billing_payments.attach_checkout(db(), payment.id, checkout)
    return Answer(PaymentView(**payment_fields(payment)), {"Location": f"/v1/payments/{payment.id}"})


@operation(
    payments,
    "GET",
    "/<payment_id>",
    "getPayment",
    "A payment's status",
    access=scope("billing:read"),
    path={"payment_id": uuid.UUID},
    responses={200: Reply("The payment", PaymentView), 404: "No such payment"},
)
def show(payment_id: str) -> PaymentView:
    found = billing_payments.get_payment(db(), current_principal().account_id, path_uuid(payment_id, "payment"))
    if found is None:
        raise Problem(404, "no such payment", kind="not-found")
    return PaymentView(**payment_fields(found))


@operation(
    payments,
    "GET",
    "",
    "listPayments",
    "Payments, newest first",
    access=scope("billing:read"),
    query=Page,
    responses={200: Reply("A page of payments", PaymentList)},
)
def index(query: Page) -> PaymentList:
    rows, next_cursor = billing_payments.list_payments(
        db(), current_principal().account_id, limit=query.limit, cursor=query.cursor
    )
    return PaymentList(items=[payment_fields(row) for row in rows], next_cursor=next_cursor)


@operation(
    dead_letters,
    "GET",
    "/dead",
    "listDeadPaymentEvents",
    "Staff: payment events that kept failing, newest first",
    access=STAFF,
    query=Page,
    responses={200: Reply("A page of dead-lettered events", DeadPaymentEventList)},
)
def list_dead(query: Page) -> DeadPaymentEventList:
    events, next_cursor = billing_webhooks.dead_letters(db(), limit=query.limit, cursor=query.cursor)
    return DeadPaymentEventList(
        items=[
            DeadPaymentEvent(
                id=str(event.id),
                provider=event.provider,
                event_id=event.event_id,
                event_type=event.event_type,
                attempts=event.attempts,
                error=event.error,
                received_at=event.received_at,
                normalized=event.normalized,
            )
            for event in events
        ],
        next_cursor=next_cursor,
    )


@operation(
    dead_letters,
    "POST",
    "/<event_id>/replay",
    "replayPaymentEvent",
    "Staff: process a dead-lettered event again",
    access=STAFF,
    path={"event_id": uuid.UUID},
    responses={202: Reply("Queued again", ReplayedEvent), 404: "No such dead event"},
)
def replay(event_id: str) -> ReplayedEvent:
    try:
        stored_id = uuid.UUID(event_id)
        billing_webhooks.replay(db(), stored_id)
    except (ValueError, billing_webhooks.EventNotFound):
        raise Problem(404, "no dead-lettered payment event with this id", kind="not-found") from None
    request_id = request_id_var.get()
    publish_after_response(
        "event",
        stored_id,
        lambda celery: publish_payment_event(celery, stored_id, request_id),
        billing_webhooks.mark_unpublished,
    )
    return ReplayedEvent(id=event_id, status="received")


@operation(
    reviews,
    "GET",
    "/review",
    "listPaymentsInReview",
    "Staff: payments whose confirmation credited nothing (another currency, no or a bad amount)",
    access=STAFF,
    query=Page,
    responses={200: Reply("A page of payments in review", ReviewQueue)},
)
def review_queue(query: Page) -> ReviewQueue:
    rows, next_cursor = billing_payments.in_review(db(), limit=query.limit, cursor=query.cursor)
    return ReviewQueue(items=[_reviewed(row) for row in rows], next_cursor=next_cursor)


@operation(
    reviews,
    "POST",
    "/<payment_id>/review",
    "resolvePaymentReview",
    "Staff: credit or reject a payment in review (audited)",
    access=STAFF,
    body=ReviewDecision,
    path={"payment_id": uuid.UUID},
    responses={200: Reply("The payment, settled or failed", ReviewedPayment), 404: "No payment in review with this id"},
)
def resolve_review(payment_id: str, body: ReviewDecision) -> ReviewedPayment:
    """Credit or reject a payment whose confirmation credited nothing; audited with the staff member's note."""
    session = db()
    try:
        payment = billing_payments.resolve_review(
            session,
            actor(),
            path_uuid(payment_id, "payment in review"),
            decision=body.decision,
            credits=body.credits,
            note=body.note,
        )
    except billing_payments.NotInReview:
        raise Problem(404, "no payment in review with this id", kind="not-found") from None
    except ValueError as error:
        raise Problem(
            422, f"credits {error}", kind="validation-error", errors=[{"field": "credits", "message": str(error)}]
        ) from None
    session.commit()
    return _reviewed(payment)
