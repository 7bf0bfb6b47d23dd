-- Inserts a queued job, holds its cost in credits and counts it against the quotas, in one statement.
-- A refusal raises, which rolls the whole statement back: nothing of a refused job stays. SQLSTATEs:
--   SC402  too few credits; DETAIL is the spendable balance
--   SC429  a quota is used up; MESSAGE names it (jobs_per_day or concurrent_jobs)
-- The in-flight count stops at the limit, so its cost does not grow with the account's backlog.
CREATE OR REPLACE FUNCTION submit_job(
    p_id uuid, p_account_id uuid, p_user_id uuid, p_type varchar, p_priority varchar, p_data json,
    p_host varchar, p_idempotency_key varchar, p_request_hash varchar, p_request_id varchar,
    p_now timestamptz, p_expires_at timestamptz, p_cost bigint,
    p_day date, p_jobs_per_day bigint, p_concurrent_jobs bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_count bigint;
    v_available bigint;
BEGIN
    INSERT INTO jobs (id, account_id, user_id, type, priority, status, progress, data, host, idempotency_key,
                      request_hash, request_id, attempts, created_at, published_at, expires_at, updated_at)
    VALUES (p_id, p_account_id, p_user_id, p_type, p_priority, 'queued', 0, p_data, p_host, p_idempotency_key,
            p_request_hash, p_request_id, 0, p_now, p_now, p_expires_at, p_now);
    IF p_cost > 0 THEN
        UPDATE credit_balances SET held = held + p_cost, updated_at = p_now
        WHERE account_id = p_account_id AND balance - held >= p_cost;
        IF NOT FOUND THEN
            SELECT coalesce(max(balance - held), 0) INTO v_available
            FROM credit_balances WHERE account_id = p_account_id;
            RAISE EXCEPTION 'insufficient credits' USING ERRCODE = 'SC402', DETAIL = v_available::text;
        END IF;
        INSERT INTO credit_holds (job_id, account_id, amount, status, created_at)
        VALUES (p_id, p_account_id, p_cost, 'held', p_now);
    END IF;
    IF p_jobs_per_day IS NOT NULL THEN
        INSERT INTO job_quota_usage (account_id, day, jobs) VALUES (p_account_id, p_day, 1)
        ON CONFLICT (account_id, day) DO UPDATE SET jobs = job_quota_usage.jobs + 1
        RETURNING jobs INTO v_count;
        IF v_count > p_jobs_per_day THEN
            RAISE EXCEPTION 'jobs_per_day' USING ERRCODE = 'SC429';
        END IF;
    END IF;
    IF p_concurrent_jobs IS NOT NULL THEN
        SELECT count(*) INTO v_count FROM (
            SELECT 1 FROM jobs WHERE account_id = p_account_id AND status IN ('queued', 'running')
            LIMIT p_concurrent_jobs + 1) AS in_flight;
        IF v_count > p_concurrent_jobs THEN
            RAISE EXCEPTION 'concurrent_jobs' USING ERRCODE = 'SC429';
        END IF;
    END IF;
END $$
