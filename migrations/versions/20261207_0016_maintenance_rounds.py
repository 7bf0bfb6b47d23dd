"""maintenance rounds, job completions and finishing times: scheduler health, double runs, the drain rate

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from migrations.sql import definition


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# One row per scheduled round (smartcompute/maintenance.py), written as each round finishes. The scheduler runs
# in its own process, apart from the workers; this is how an operator learns that no round runs any more.

# `jobs.completions` counts the runs that reached the job's finishing statement, counted in the same transaction
# as the outcome they store, or alone when another run had already finished the job (or it was canceled) and
# this run's outcome is dropped. More than one means the analysis was done twice: what the locks around a job's
# run exist to prevent, and what the chaos harness (bench/chaos.py) checks never happens.
# finish_job counts the run, in both of its outcomes and when it drops one.


def upgrade() -> None:
    op.create_table(
        "maintenance_rounds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("jobs", sa.Column("completions", sa.Integer(), nullable=False, server_default="0"))
    op.execute(definition("finish_job"))
    # The rate at which jobs finish, over the last minute, for admission control (smartcompute/jobs/admission.py).
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"], postgresql_where=sa.text("finished_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_finished_at", table_name="jobs", postgresql_where=sa.text("finished_at IS NOT NULL"))
    op.execute(definition("finish_job", written_by="0009"))
    op.drop_column("jobs", "completions")
    op.drop_table("maintenance_rounds")
