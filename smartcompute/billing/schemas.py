"""Request and response shapes of the billing API (validated requests, and the OpenAPI document)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Currency = Literal["BTC", "ETH", "USDT", "USDC"]


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["pack", "plan"] = "pack"
    product: str = Field(min_length=1, max_length=40, description="a credit pack or plan name from /v1/billing/balance")
    provider: Literal["coinbase-commerce", "btcpay", "nowpayments"]
    currency: Currency


class PaymentView(BaseModel):
    id: str
    status: Literal["pending", "confirmed", "failed", "expired", "refunded"]
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
    settlement: Literal["exact", "underpaid", "overpaid"] | None
    amount_paid: str | None
    credited: int
    created_at: str


class BalanceView(BaseModel):
    balance: int
    held: int
    available: int


class LedgerEntryView(BaseModel):
    id: str
    amount: int
    reason: Literal["payment", "refund", "job", "grant", "adjustment"]
    job_id: str | None
    payment_id: str | None
    note: str | None
    created_at: str
