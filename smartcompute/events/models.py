from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from smartcompute.db import Base


class Event(Base):
    """One thing that happened to an account's jobs, written by the jobs table's triggers (migration 0018) and
    kept for EVENT_RETENTION_HOURS. Its position is (tx, id): the writing transaction's id, then its order."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_position", "account_id", "tx", "id"),
        Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID | None]  # no foreign key: an event outlives nothing, but a purged job may go first
    name: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime]


class EventLogState(Base):
    """One row: the position up to which events have been pruned."""

    __tablename__ = "event_log_state"
    __table_args__ = (CheckConstraint("singleton", name="singleton"),)

    singleton: Mapped[bool] = mapped_column(primary_key=True, server_default=text("true"))
    pruned_tx: Mapped[int] = mapped_column(BigInteger, server_default="0")
    pruned_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
