CREATE OR REPLACE FUNCTION signed_in_principal(p_user_id uuid, p_session_id uuid, p_now timestamptz)
RETURNS TABLE (id uuid, account_id uuid, role varchar, is_active boolean, is_staff boolean, email varchar,
               plan varchar)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT u.id, u.account_id, u.role, u.is_active, u.is_staff, u.email, a.plan
    FROM users AS u
    JOIN accounts AS a ON a.id = u.account_id
    JOIN auth_sessions AS s ON s.user_id = u.id
    WHERE u.id = p_user_id AND s.id = p_session_id AND s.revoked_at IS NULL AND s.expires_at > p_now;
END $$
