"""The credit ledger: every change of an account's balance is one appended row.

PostgreSQL enforces the invariants (migration 0003): a trigger adds each ledger amount to `credit_balances`,
whose CHECKs keep the balance from going negative or under what is held for jobs, and ledger rows cannot be
updated or deleted. Each row has an `entry_key` naming the change (`payment:<id>:credit`, `job:<id>:charge`),
unique, so repeating a change is a no-op: that is what makes a payment credit happen exactly once.

A job's cost is *held* when it is submitted (spendable = balance - held), *charged* when it succeeds (a ledger
row) and *released* when it fails or is canceled (no ledger row: the balance never changed). Holding is part
of the `submit_job` function (migration 0008) and settling is `settle_job_hold` (migration 0007), so each
rule has one home, in PostgreSQL, whichever statement applies it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from smartcompute import pagination
from smartcompute.billing.models import CreditBalance, LedgerEntry
from smartcompute.db import Database, connection_of, utcnow


class InsufficientCredits(ValueError):
    def __init__(self, needed: int, available: int):
        self.needed, self.available = needed, available
        super().__init__(f"this needs {needed} credits and {available} are available")


@dataclass(frozen=True)
class Balance:
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def balance_of(session: Session, account_id: uuid.UUID) -> Balance:
    row = session.execute(
        select(CreditBalance.balance, CreditBalance.held).where(CreditBalance.account_id == account_id)
    ).first()
    return Balance(row.balance, row.held) if row else Balance(0, 0)


def record(
    db: Database,
    account_id: uuid.UUID,
    amount: int,
    reason: str,
    entry_key: str,
    *,
    job_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
    note: str | None = None,
) -> bool:
    """Append one change; False when a change with this key was recorded before (nothing happens then).

    A change that would take the balance below zero (or below what is held) raises IntegrityError.
    """
    inserted = (
        connection_of(db)
        .execute(
            _RECORD,
            {
                "id": uuid.uuid4(),
                "account_id": account_id,
                "amount": amount,
                "reason": reason,
                "entry_key": entry_key,
                "job_id": job_id,
                "payment_id": payment_id,
                "note": note,
                "created_at": utcnow(),
            },
        )
        .first()
    )
    return inserted is not None


# Statements with ON CONFLICT are text: SQLAlchemy 2.0 never caches the compiled form of its PostgreSQL insert().
_RECORD = text("""
    INSERT INTO credit_ledger (id, account_id, amount, reason, entry_key, job_id, payment_id, note, created_at)
    VALUES (:id, :account_id, :amount, :reason, :entry_key, :job_id, :payment_id, :note, :created_at)
    ON CONFLICT (entry_key) DO NOTHING
    RETURNING id""")


def grant(session: Session, account_id: uuid.UUID, amount: int, entry_key: str, note: str | None = None) -> bool:
    """Credits given by an operator (or the sign-up grant); negative amounts take them back."""
    return record(session, account_id, amount, "grant", entry_key, note=note)


# Settling a hold (charge or release) is the function `settle_job_hold` (migration 0007), which finishing a
# job also calls inside PostgreSQL: one home for the rule.
_SETTLE = text("SELECT settle_job_hold(CAST(:job_id AS uuid), :outcome, :now)")


def release(session: Session, job_id: uuid.UUID) -> int:
    """The job was canceled: its held cost is spendable again. Returns the amount released.

    A job that succeeds or fails is settled by `finish_job` (smartcompute.jobs.lifecycle) in the same way."""
    return int(
        session.connection().execute(_SETTLE, {"job_id": str(job_id), "outcome": "released", "now": utcnow()}).scalar()
        or 0
    )


def ledger_sum(session: Session, account_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == account_id)
        )
    )


def entries(
    session: Session,
    account_id: uuid.UUID,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[LedgerEntry], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    return pagination.newest_first(session, query, LedgerEntry.created_at, LedgerEntry.id, limit=limit, cursor=cursor)
