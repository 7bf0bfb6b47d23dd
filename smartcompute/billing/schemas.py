"""Request and response shapes of the billing API (validated requests, and the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Currency = Literal["BTC", "ETH", "USDT", "USDC"]


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["pack", "plan"] = "pack"
    product: str = Field(min_length=1, max_length=40, description="a credit pack or plan name from /v1/billing/balance")
    provider: Literal["coinbase-commerce", "btcpay", "nowpayments"]
    currency: Currency


class ReviewDecision(BaseModel):
    """Staff's decision on a payment held for review: credit it (all of its credits unless `credits` says fewer),
    or reject it; the note says why, for the audit log."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["credit", "reject"]
    credits: int | None = Field(default=None, ge=1, description="for credit: at most the product's credits")
    note: str = Field(min_length=1, max_length=500)


class PaymentView(BaseModel):
    id: str
    status: Literal["pending", "confirmed", "failed", "expired", "refunded", "review"]
    provider: str
    kind: str
    product: str
    credits: int
    price: str
    price_currency: str
    pay_currency: str
    pay_amount: str | None
    pay_address: str | None
    checkout_url: str | None
    expires_at: str
    settlement: Literal["exact", "underpaid", "overpaid", "manual"] | None
    amount_paid: str | None
    credited: int
    created_at: str
    review_reason: str | None = Field(description="why a confirmation credited nothing (status review)")


class ReviewedPayment(PaymentView):
    account_id: str


class ReviewQueue(BaseModel):
    items: list[ReviewedPayment]
    next_cursor: str | None


class JobPrice(BaseModel):
    type: str
    base: int = Field(description="credits every job of this type costs")
    per_1000_points: int = Field(description="credits per started thousand points (timestamps x metrics)")


class Product(BaseModel):
    kind: Literal["pack", "plan"]
    name: str
    credits: int
    price: str
    currency: str


class BalanceView(BaseModel):
    balance: int
    held: int
    available: int
    prices: list[JobPrice]
    products: list[Product]


class LedgerEntryView(BaseModel):
    id: str
    amount: int
    reason: Literal["payment", "refund", "job", "grant", "adjustment"]
    job_id: str | None
    payment_id: str | None
    note: str | None
    created_at: str


class LedgerPage(BaseModel):
    items: list[LedgerEntryView]
    next_cursor: str | None


class PaymentList(BaseModel):
    items: list[PaymentView]
    next_cursor: str | None


class WebhookReceipt(BaseModel):
    received: Literal[True]
    event_id: str = Field(description="the provider's id of the event")
    duplicate: bool = Field(description="the event was stored before; this delivery changed nothing")


class DeadPaymentEvent(BaseModel):
    """A provider's event that failed every attempt to process it."""

    id: str
    provider: str
    event_id: str
    event_type: str | None
    attempts: int
    error: str | None
    received_at: datetime
    normalized: dict[str, Any] | None


class DeadPaymentEventList(BaseModel):
    items: list[DeadPaymentEvent]
    next_cursor: str | None


class ReplayedEvent(BaseModel):
    id: str
    status: Literal["received"]
