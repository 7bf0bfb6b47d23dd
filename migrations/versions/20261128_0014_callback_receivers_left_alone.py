"""job callbacks: an account whose receiver hung is left alone for a while by every worker, not each apart

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written only when an attempt hangs (and cleared by the next delivery), read with each claimed attempt.
    op.add_column("accounts", sa.Column("callback_quiet_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "callback_quiet_until")
