CREATE OR REPLACE FUNCTION finish_job(p_job_id uuid, p_succeeded boolean, p_result jsonb, p_error jsonb,
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
