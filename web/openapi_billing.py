"""The OpenAPI section for credits, payments, payment webhooks' providers and payment dead letters."""
from __future__ import annotations

from smartcompute.billing import schemas
from web.openapi_parts import AUTH_ERRORS, Section, json_body, needs_scope, problem, request_body

PAGE = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}}]
ID = {"name": "payment_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
# Credits are the account's money: only owners hold these scopes (and keys they give them to).
READ = needs_scope("billing:read", "account owners")
WRITE = needs_scope("billing:write", "account owners")


def billing_section() -> Section:
    paths = {
        "/v1/billing/balance": {"get": {
            "operationId": "getBalance", "summary": "Credits: balance, held for jobs, available; prices and products",
            **READ, "responses": {"200": json_body("BalanceView", "The balance"), **AUTH_ERRORS}}},
        "/v1/billing/ledger": {"get": {
            "operationId": "listLedger", "summary": "Every change of the balance, newest first", **READ,
            "parameters": PAGE, "responses": {"200": {"description": "A page of LedgerEntryView items and next_cursor"}, **AUTH_ERRORS}}},
        "/v1/payments": {
            "post": {"operationId": "createPayment", "summary": "Buy a credit pack or plan with crypto", **WRITE,
                     "requestBody": request_body("PaymentRequest"),
                     "responses": {"201": json_body("PaymentView", "Created: pay at checkout_url or pay_address"),
                                   "422": problem("Unknown product, provider or currency"),
                                   "502": problem("The provider is unavailable"), **AUTH_ERRORS}},
            "get": {"operationId": "listPayments", "summary": "Payments, newest first", **READ,
                    "parameters": PAGE, "responses": {"200": {"description": "A page of PaymentView items and next_cursor"},
                                                      **AUTH_ERRORS}}},
        "/v1/payments/{payment_id}": {"get": {
            "operationId": "getPayment", "summary": "A payment's status", **READ, "parameters": [ID],
            "responses": {"200": json_body("PaymentView", "The payment"), "404": problem("No such payment"), **AUTH_ERRORS}}},
        "/v1/admin/payment-events/dead": {"get": {
            "operationId": "listDeadPaymentEvents", "summary": "Staff: payment events that kept failing, newest first",
            "security": [{"Bearer": []}], "parameters": PAGE,
            "responses": {"200": {"description": "A page of dead-lettered events and next_cursor"}, **AUTH_ERRORS}}},
        "/v1/admin/payment-events/{event_id}/replay": {"post": {
            "operationId": "replayPaymentEvent", "summary": "Staff: process a dead-lettered event again",
            "security": [{"Bearer": []}],
            "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"202": {"description": "Queued again"}, "404": problem("No such dead event"), **AUTH_ERRORS}}},
        "/v1/admin/payments/review": {"get": {
            "operationId": "listPaymentsInReview",
            "summary": "Staff: payments whose confirmation credited nothing (another currency, no or a bad amount)",
            "security": [{"Bearer": []}], "parameters": PAGE,
            "responses": {"200": json_body("ReviewQueue", "A page of payments in review"), **AUTH_ERRORS}}},
        "/v1/admin/payments/{payment_id}/review": {"post": {
            "operationId": "resolvePaymentReview", "summary": "Staff: credit or reject a payment in review (audited)",
            "security": [{"Bearer": []}], "parameters": [ID], "requestBody": request_body("ReviewDecision"),
            "responses": {"200": json_body("ReviewedPayment", "The payment, settled or failed"),
                          "404": problem("No payment in review with this id"), **AUTH_ERRORS}}},
    }
    return Section(paths, request_models=[schemas.PaymentRequest, schemas.ReviewDecision],
                   response_models=[schemas.PaymentView, schemas.BalanceView, schemas.LedgerEntryView,
                                    schemas.ReviewedPayment, schemas.ReviewQueue])
