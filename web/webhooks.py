"""Payment-provider webhooks: verify the raw body, store the event once, queue it, answer fast.

Nothing is acknowledged before the event is durable: the 200 is sent only after `record_event`'s INSERT has
committed (it runs on the request's autocommit connection, `statement_db`, so the statement is its own
transaction). The event is published to the payment queue once the 200 is sent (web/after_response.py).
"""

from __future__ import annotations

import logging
from typing import Literal

from flask import Blueprint, request

from config.logging import request_id_var
from smartcompute.billing import webhooks as billing_webhooks
from smartcompute.billing.schemas import WebhookReceipt
from web.access import PUBLIC
from web.after_response import publish_after_response
from web.problems import Problem
from web.routes import Reply, operation
from web.runtime import statement_db, web_runtime
from workers.publishing import publish_payment_event

log = logging.getLogger("smartcompute.web")
webhooks = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
ProviderName = Literal["generic", "coinbase-commerce", "btcpay", "nowpayments", "standard-webhooks"]


# The body is the provider's own event, read raw: its signature is checked over the exact bytes sent.
@operation(
    webhooks,
    "POST",
    "/payments/<provider>",
    "receivePaymentWebhook",
    "Payment provider webhook (signed)",
    access=PUBLIC,
    body={"type": "object"},
    path={"provider": ProviderName},
    responses={
        200: Reply("Stored (or a repeat of a stored event)", WebhookReceipt),
        400: "Not a readable event",
        401: "Bad or missing signature",
        404: "Unknown provider",
        413: "Body too large",
    },
)
def receive_payment_event(provider: str) -> WebhookReceipt:
    verifier = web_runtime().webhook_providers.get(provider)
    if verifier is None:
        raise Problem(404, f"no payment provider named {provider!r} is configured", kind="not-found")
    request.max_content_length = verifier.max_body_bytes  # more is 413, refused before it is read
    raw_body = request.get_data(cache=False)
    try:
        event = verifier.read(request.headers, raw_body)  # verified before anything reads the body
    except billing_webhooks.InvalidSignature as error:
        log.warning("webhook signature rejected", extra={"provider": provider, "reason": str(error)})
        raise Problem(401, str(error), kind="invalid-signature") from None
    except billing_webhooks.InvalidEvent as error:
        raise Problem(400, str(error), kind="invalid-event") from None
    stored_id = billing_webhooks.record_event(statement_db(), event, raw_body)
    if stored_id is not None:
        request_id = request_id_var.get()
        publish_after_response(
            "event",
            stored_id,
            lambda celery: publish_payment_event(celery, stored_id, request_id),
            billing_webhooks.mark_unpublished,
        )
    return WebhookReceipt(received=True, event_id=event.event_id, duplicate=stored_id is None)
