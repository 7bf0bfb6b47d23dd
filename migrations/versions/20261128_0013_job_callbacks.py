"""job callbacks: a customer may be told when a job finishes, at a URL of theirs

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# One row per job submitted with a `callback_url`; jobs without one cost nothing here. It is the callback's
# outbox: a delivery is due once the job has finished, until it is delivered or given up. `next_attempt_at`
# is both the retry schedule and the lease of an attempt in progress; `published_at` says the re-publisher sent
# a task for it that no worker has taken yet (see smartcompute/jobs/callbacks.py).


def upgrade() -> None:
    op.create_table(
        "job_callbacks",
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_job_callbacks_open",
        "job_callbacks",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL AND given_up_at IS NULL"),
    )
    op.create_index(
        "ix_job_callbacks_given_up",
        "job_callbacks",
        ["given_up_at"],
        postgresql_where=sa.text("given_up_at IS NOT NULL"),
    )
    op.add_column("accounts", sa.Column("callback_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "callback_secret")
    op.drop_index("ix_job_callbacks_given_up", table_name="job_callbacks")
    op.drop_index("ix_job_callbacks_open", table_name="job_callbacks")
    op.drop_table("job_callbacks")
