"""maintenance rounds, job completions and finishing times: scheduler health, double runs, the drain rate

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from alembic.script import ScriptDirectory


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# One row per scheduled round (smartcompute/maintenance.py), written as each round finishes. The scheduler runs
# in its own process, apart from the workers; this is how an operator learns that no round runs any more.

# `jobs.completions` counts the runs that reached the job's finishing statement, counted in the same transaction
# as the outcome they store, or alone when another run had already finished the job (or it was canceled) and
# this run's outcome is dropped. More than one means the analysis was done twice: what the locks around a job's
# run exist to prevent, and what the chaos harness (bench/chaos.py) checks never happens.
#
# finish_job's text keeps one home (revision 0007, for json since 0009): this revision adds the counting to it.
_COUNTING = (
    # Both finishing UPDATEs (succeeded, failed) count the run with the outcome they store.
    ("updated_at = p_now\n        WHERE id = p_job_id AND status",
     "updated_at = p_now, completions = completions + 1\n        WHERE id = p_job_id AND status", 2),
    # A run whose outcome is dropped (the job was finished or canceled meanwhile) is counted alone.
    ("    END IF;\n    IF p_lock_key IS NOT NULL THEN",
     "    ELSE\n        UPDATE jobs SET completions = completions + 1 WHERE id = p_job_id;\n"
     "    END IF;\n    IF p_lock_key IS NOT NULL THEN", 1),
)


def upgrade() -> None:
    op.create_table(
        "maintenance_rounds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("jobs", sa.Column("completions", sa.Integer(), nullable=False, server_default="0"))
    op.execute(_finish_job(counting=True))
    # The rate at which jobs finish, over the last minute, for admission control (smartcompute/jobs/admission.py).
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"], postgresql_where=sa.text("finished_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_finished_at", table_name="jobs", postgresql_where=sa.text("finished_at IS NOT NULL"))
    op.execute(_finish_job(counting=False))
    op.drop_column("jobs", "completions")
    op.drop_table("maintenance_rounds")


def _finish_job(*, counting: bool) -> str:
    """finish_job as revision 0009 left it (0007's text, for json), with or without the counting."""
    json_columns = ScriptDirectory.from_config(op.get_context().config).get_revision("0009").module
    sql = json_columns._with_type(json_columns._revision_module("0007")._FINISH_JOB, "json")
    sql = sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for old, new, count in _COUNTING if counting else ():
        assert sql.count(old) == count, old
        sql = sql.replace(old, new)
    return sql
