"""a job's claim commits without waiting for its WAL flush

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from alembic import op

from migrations.sql import definition


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Claiming is the one job write a crash may undo: the job is then `queued` again with one attempt less, and its
# message, never acknowledged, is delivered again. Nothing after it can outlive it either: the finishing
# statement commits synchronously, and its WAL flush carries the claim's with it. So the claim need not wait for
# its own flush, which cost 0.12 ms of backend CPU and 0.27 ms of waiting per job (measured here, 1,500 claims
# each way). claim_job turns `synchronous_commit` off with `set_config(..., true)`, which lasts to the end of the
# transaction: on a worker's autocommit connection that is the claim statement alone.


def upgrade() -> None:
    op.execute(definition("claim_job"))


def downgrade() -> None:
    op.execute(definition("claim_job", written_by="0009"))
