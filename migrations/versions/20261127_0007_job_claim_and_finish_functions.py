"""job claim and finish as functions: one round trip each for a worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# A worker used nine round trips per job (BEGINs, try-lock, claim, COMMITs, result, charge, unlock), each
# also parsed and planned by PostgreSQL. As PL/pgSQL functions, called on an autocommit connection, claiming
# is one round trip and finishing another; each function is one transaction, so what it writes commits
# together or not at all, and its statements keep their plans for the life of the connection.

# A job's held cost leaves the balance (charged, with its ledger row) or becomes spendable again (released).
# `held` is lowered before the ledger row's trigger lowers the balance, so `held <= balance` at every step.
_SETTLE_JOB_HOLD = """
CREATE FUNCTION settle_job_hold(p_job_id uuid, p_outcome varchar, p_now timestamptz)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_account uuid;
    v_amount bigint;
BEGIN
    UPDATE credit_holds SET status = p_outcome, settled_at = p_now
    WHERE job_id = p_job_id AND status = 'held'
    RETURNING account_id, amount INTO v_account, v_amount;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    UPDATE credit_balances SET held = held - v_amount, updated_at = p_now WHERE account_id = v_account;
    IF p_outcome = 'charged' THEN
        INSERT INTO credit_ledger (id, account_id, amount, reason, entry_key, job_id, created_at)
        VALUES (gen_random_uuid(), v_account, -v_amount, 'job', concat_ws(':', 'job', p_job_id, 'charge'), p_job_id, p_now)
        ON CONFLICT (entry_key) DO NOTHING;
    END IF;
    RETURN v_amount;
END $$
"""

# Takes the job's session-level execution lock (when a key is given) and marks the job running. No row:
# the job is finished, canceled or gone. A row with `locked` false: another live worker holds the job.
_CLAIM_JOB = """
CREATE FUNCTION claim_job(p_job_id uuid, p_lock_key bigint, p_now timestamptz)
RETURNS TABLE (locked boolean, type varchar, account_id uuid, host varchar, attempts integer,
               request_id varchar, data jsonb)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_lock_key IS NOT NULL AND NOT pg_try_advisory_lock(p_lock_key) THEN
        RETURN QUERY SELECT false, NULL::varchar, NULL::uuid, NULL::varchar, NULL::integer, NULL::varchar,
                            NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE jobs AS j SET status = 'running', attempts = j.attempts + 1, started_at = p_now, progress = 0,
                         updated_at = p_now
    WHERE j.id = p_job_id AND j.status IN ('queued', 'running')
    RETURNING true, j.type, j.account_id, j.host, j.attempts, j.request_id, j.data;
END $$
"""

# Stores the outcome of a running job: its result (and the host's learned baseline with it) and the charge,
# or its error and the release. False when the job had already finished or was canceled: nothing changes.
# The execution lock is given back last, inside the same transaction: a duplicate delivery that takes it
# then claims after this commits and finds the job finished.
_FINISH_JOB = """
CREATE FUNCTION finish_job(p_job_id uuid, p_succeeded boolean, p_result jsonb, p_error jsonb,
                           p_baseline jsonb, p_lock_key bigint, p_now timestamptz)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_account uuid;
    v_host varchar;
    v_finished boolean;
BEGIN
    IF p_succeeded THEN
        UPDATE jobs SET status = 'succeeded', result = p_result, error = NULL, progress = 1.0,
                        finished_at = p_now, updated_at = p_now
        WHERE id = p_job_id AND status = 'running'
        RETURNING account_id, host INTO v_account, v_host;
    ELSE
        UPDATE jobs SET status = 'failed', error = p_error, finished_at = p_now, updated_at = p_now
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
    END IF;
    IF p_lock_key IS NOT NULL THEN
        PERFORM pg_advisory_unlock(p_lock_key);
    END IF;
    RETURN v_finished;
END $$
"""


def upgrade() -> None:
    op.execute(_SETTLE_JOB_HOLD)
    op.execute(_CLAIM_JOB)
    op.execute(_FINISH_JOB)


def downgrade() -> None:
    op.execute("DROP FUNCTION finish_job(uuid, boolean, jsonb, jsonb, jsonb, bigint, timestamptz)")
    op.execute("DROP FUNCTION claim_job(uuid, bigint, timestamptz)")
    op.execute("DROP FUNCTION settle_job_hold(uuid, varchar, timestamptz)")
