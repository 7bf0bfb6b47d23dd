CREATE OR REPLACE FUNCTION claim_job(p_job_id uuid, p_lock_key bigint, p_now timestamptz)
RETURNS TABLE (locked boolean, type varchar, account_id uuid, host varchar, attempts integer,
               request_id varchar, data json)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_lock_key IS NOT NULL AND NOT pg_try_advisory_lock(p_lock_key) THEN
        RETURN QUERY SELECT false, NULL::varchar, NULL::uuid, NULL::varchar, NULL::integer, NULL::varchar,
                            NULL::json;
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE jobs AS j SET status = 'running', attempts = j.attempts + 1, started_at = p_now, progress = 0,
                         updated_at = p_now
    WHERE j.id = p_job_id AND j.status IN ('queued', 'running')
    RETURNING true, j.type, j.account_id, j.host, j.attempts, j.request_id, j.data;
END $$
