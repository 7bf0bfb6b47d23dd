from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from smartcompute.db import Base, utcnow


class Host(Base):
    """A host an operator described (its hardware, where it was imported from). Hosts that only send telemetry
    need no row: they are known by their jobs' `host` and their learned baseline (migration 0015)."""

    __tablename__ = "hosts"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, server_default=text("'{}'::json"))
    imported: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
