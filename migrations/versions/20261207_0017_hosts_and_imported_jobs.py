"""hosts with their attributes, and jobs marked as imported from the legacy SmartCompute

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "attributes", postgresql.JSON(astext_type=sa.Text()), server_default=sa.text("'{}'::json"), nullable=False
        ),
        sa.Column("imported", postgresql.JSON(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_hosts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_hosts")),
    )
    # Nullable, no default: adding it rewrites nothing, and the submit_job function leaves it NULL.
    op.add_column("jobs", sa.Column("imported", postgresql.JSON(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "imported")
    op.drop_table("hosts")
