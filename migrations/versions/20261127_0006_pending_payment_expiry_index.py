"""index for the expiry sweep over pending payments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_payments_pending_expiry",
        "payments",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_pending_expiry", table_name="payments", postgresql_where=sa.text("status = 'pending'"))
