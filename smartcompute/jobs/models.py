from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, deferred, mapped_column

from smartcompute.db import Base, new_id, utcnow
from smartcompute.jobs.enums import LIVE_STATUSES, JobStatus, JobType, sql_list

PRIORITIES = ("low", "normal", "high", "critical")


class Job(Base):
    """One analysis job. Its id is also the Celery task id, so API, database and broker share it."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"type IN {sql_list(JobType)}", name="type"),
        CheckConstraint(f"priority IN {PRIORITIES}", name="priority"),
        CheckConstraint(f"status IN {sql_list(JobStatus)}", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        UniqueConstraint("account_id", "idempotency_key", name="uq_jobs_account_idempotency_key"),
        Index("ix_jobs_account_newest", "account_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_waiting", "created_at", postgresql_where=text(f"status = '{JobStatus.QUEUED}'")),
        Index("ix_jobs_in_flight", "account_id", postgresql_where=text(f"status IN {sql_list(LIVE_STATUSES)}")),
        Index("ix_jobs_finished_at", "finished_at", postgresql_where=text("finished_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(default=0.0)
    # data, result and HostBaseline.state are compressed with LZ4 where the server has it (migration 0012).
    data: Mapped[dict[str, Any]] = deferred(mapped_column(JSON, nullable=False))
    result: Mapped[dict[str, Any] | None] = deferred(mapped_column(JSON))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    host: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Where a job that ran before SmartCompute came from (`smartcompute import legacy`); None for submitted jobs.
    imported: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    # Runs that reached the finishing statement (migration 0015): more than one means the analysis ran twice.
    completions: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HostBaseline(Base):
    """The anomaly detector's learned state for one host, so successive jobs continue from it."""

    __tablename__ = "host_baselines"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobCallback(Base):
    """Where to tell a customer that a job finished, and how far that delivery has got (migration 0013)."""

    __tablename__ = "job_callbacks"
    __table_args__ = (
        Index(
            "ix_job_callbacks_open",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL AND given_up_at IS NULL"),
        ),
        Index("ix_job_callbacks_given_up", "given_up_at", postgresql_where=text("given_up_at IS NOT NULL")),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]  # the retry schedule, and the lease of an attempt in progress
    published_at: Mapped[datetime | None]  # the re-publisher sent a task that no worker has taken yet
    delivered_at: Mapped[datetime | None]
    given_up_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
