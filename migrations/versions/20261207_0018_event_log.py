"""the event log: job status changes and incidents, written by triggers, for live updates

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.sql import definition

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Every change of a job's status writes its event from a trigger, in the same transaction: record_job_events.


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_events_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_account_position", "events", ["account_id", "tx", "id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    # Where pruning has reached, so a reader resuming from before it is told it may have missed events.
    op.create_table(
        "event_log_state",
        sa.Column("singleton", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("pruned_tx", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pruned_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("singleton", name=op.f("ck_event_log_state_singleton")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_event_log_state")),
    )
    op.execute("INSERT INTO event_log_state DEFAULT VALUES")
    op.execute(definition("record_job_events"))
    # Imported jobs are history, not changes happening now; a status that stays the same changes nothing.
    op.execute(
        "CREATE TRIGGER jobs_inserted_events AFTER INSERT ON jobs FOR EACH ROW "
        "WHEN (NEW.imported IS NULL) EXECUTE FUNCTION record_job_events()"
    )
    op.execute(
        "CREATE TRIGGER jobs_status_events AFTER UPDATE OF status ON jobs FOR EACH ROW "
        "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION record_job_events()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_status_events ON jobs")
    op.execute("DROP TRIGGER jobs_inserted_events ON jobs")
    op.execute("DROP FUNCTION record_job_events()")
    op.drop_table("event_log_state")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_index("ix_events_account_position", table_name="events")
    op.drop_table("events")
