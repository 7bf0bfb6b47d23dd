"""maintenance rounds: when each scheduled round last finished, for the API's /metrics

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# One row per scheduled round (smartcompute/maintenance.py), written as each round finishes. The scheduler runs
# in its own process, apart from the workers; this is how an operator learns that no round runs any more.


def upgrade() -> None:
    op.create_table(
        "maintenance_rounds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("maintenance_rounds")
