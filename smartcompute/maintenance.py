"""Rounds of upkeep that run on a schedule, and when each last finished.

A round re-sends what the broker never got or lost (jobs, callbacks, payment events) or expires overdue
payments. Its time of finishing is kept in PostgreSQL, where every API process reads it for `/metrics`, so an
operator is told when no round has run for a while: no scheduler is running, none can reach the broker or
the database, or no worker takes the rounds' tasks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from smartcompute.db import Base, Database, connection_of

REPUBLISH_JOBS = "republish-waiting-work"
REPUBLISH_PAYMENT_EVENTS = "republish-payment-events"
EXPIRE_PAYMENTS = "expire-overdue-payments"
ROUNDS = (REPUBLISH_JOBS, REPUBLISH_PAYMENT_EVENTS, EXPIRE_PAYMENTS)


class MaintenanceRound(Base):
    __tablename__ = "maintenance_rounds"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished_at: Mapped[datetime]


_RECORD = text(
    "INSERT INTO maintenance_rounds (name, finished_at) VALUES (:name, now()) "
    "ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at"
)
_AGES = text("SELECT name, extract(epoch FROM now() - finished_at) FROM maintenance_rounds")


def record_finished(db: Database, name: str) -> None:
    """The round `name` has just finished (the caller commits)."""
    connection_of(db).execute(_RECORD, {"name": name})


def seconds_since_finished(db: Database) -> dict[str, float | None]:
    """Every known round's seconds since it last finished; None for one that never has."""
    ages = {name: max(float(age), 0.0) for name, age in connection_of(db).execute(_AGES)}
    return {name: ages.get(name) for name in ROUNDS}
