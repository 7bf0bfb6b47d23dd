-- A job's held cost leaves the balance (charged, with its ledger row) or becomes spendable again (released).
-- `held` is lowered before the ledger row's trigger lowers the balance, so `held <= balance` at every step.
CREATE OR REPLACE FUNCTION settle_job_hold(p_job_id uuid, p_outcome varchar, p_now timestamptz)
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
