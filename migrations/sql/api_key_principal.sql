CREATE OR REPLACE FUNCTION api_key_principal(p_key_hash bytea)
RETURNS TABLE (id uuid, user_id uuid, account_id uuid, key_hash bytea, scopes varchar[],
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
               role varchar, is_active boolean, is_staff boolean, email varchar, plan varchar, rate_limit varchar)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT k.id, k.user_id, k.account_id, k.key_hash, k.scopes::varchar[], k.expires_at, k.revoked_at,
           k.last_used_at, u.role, u.is_active, u.is_staff, u.email, a.plan, k.rate_limit
    FROM api_keys AS k
    JOIN users AS u ON u.id = k.user_id
    JOIN accounts AS a ON a.id = k.account_id
    WHERE k.key_hash = p_key_hash;
END $$
