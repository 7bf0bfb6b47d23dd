"""maintenance rounds and job completions: when each scheduled round last finished, how often each job ran to its end

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from alembic.script import ScriptDirectory


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# One row per scheduled round (smartcompute/maintenance.py), written as each round finishes. The scheduler runs
# in its own process, apart from the workers; this is how an operator learns that no round runs any more.

# `jobs.completions` counts the runs that reached the job's finishing statement, counted in the same transaction
# as the outcome they store, or alone when another run had already finished the job (or it was canceled) and
# this run's outcome is dropped. More than one means the analysis was done twice: what the locks around a job's
# run exist to prevent, and what the chaos harness (bench/chaos.py) checks never happens.
_FINISH_JOB = """
CREATE OR REPLACE FUNCTION finish_job(p_job_id uuid, p_succeeded boolean, p_result json, p_error json,
                                      p_baseline json, p_lock_key bigint, p_now timestamptz)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_account uuid;
    v_host varchar;
    v_finished boolean;
BEGIN
    IF p_succeeded THEN
        UPDATE jobs SET status = 'succeeded', result = p_result, error = NULL, progress = 1.0,
                        finished_at = p_now, updated_at = p_now, completions = completions + 1
        WHERE id = p_job_id AND status = 'running'
        RETURNING account_id, host INTO v_account, v_host;
    ELSE
        UPDATE jobs SET status = 'failed', error = p_error, finished_at = p_now, updated_at = p_now,
                        completions = completions + 1
        WHERE id = p_job_id AND status IN ('queued', 'running')
        RETURNING account_id, host INTO v_account, v_host;
    END IF;
    v_finished := FOUND;
    IF v_finished THEN
        PERFORM settle_job_hold(p_job_id, CASE WHEN p_succeeded THEN 'charged' ELSE 'released' END, p_now);
        IF p_succeeded AND p_baseline IS NOT NULL AND v_host IS NOT NULL THEN
            INSERT INTO host_baselines (account_id, host, state, job_id, updated_at)
            VALUES (v_account, v_host, p_baseline, p_job_id, p_now)
            ON CONFLICT (account_id, host) DO UPDATE
            SET state = excluded.state, job_id = excluded.job_id, updated_at = excluded.updated_at;
        END IF;
    ELSE
        UPDATE jobs SET completions = completions + 1 WHERE id = p_job_id;
    END IF;
    IF p_lock_key IS NOT NULL THEN
        PERFORM pg_advisory_unlock(p_lock_key);
    END IF;
    RETURN v_finished;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "maintenance_rounds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("jobs", sa.Column("completions", sa.Integer(), nullable=False, server_default="0"))
    op.execute(_FINISH_JOB)


def downgrade() -> None:
    op.execute(_finish_job_of_0009())
    op.drop_column("jobs", "completions")
    op.drop_table("maintenance_rounds")


def _finish_job_of_0009() -> str:
    """finish_job as revision 0009 left it (0007's text, for json)."""
    json_columns = ScriptDirectory.from_config(op.get_context().config).get_revision("0009").module
    sql = json_columns._with_type(json_columns._revision_module("0007")._FINISH_JOB, "json")
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
