"""principal lookup functions with cached plans

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Every authenticated request resolves its caller with one of these three-table joins. As plain statements
# PostgreSQL plans them on every call, and planning costs more than running them; a PL/pgSQL function keeps
# its plan for the life of the server connection (safe behind PgBouncer, unlike PREPARE).
_API_KEY_PRINCIPAL = """
CREATE FUNCTION api_key_principal(p_key_hash bytea)
RETURNS TABLE (id uuid, user_id uuid, account_id uuid, key_hash bytea, scopes varchar[],
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
               role varchar, is_active boolean, is_staff boolean, email varchar, plan varchar)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT k.id, k.user_id, k.account_id, k.key_hash, k.scopes::varchar[], k.expires_at, k.revoked_at,
           k.last_used_at, u.role, u.is_active, u.is_staff, u.email, a.plan
    FROM api_keys AS k
    JOIN users AS u ON u.id = k.user_id
    JOIN accounts AS a ON a.id = k.account_id
    WHERE k.key_hash = p_key_hash;
END $$
"""
_SIGNED_IN_PRINCIPAL = """
CREATE FUNCTION signed_in_principal(p_user_id uuid, p_session_id uuid, p_now timestamptz)
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
"""


def upgrade() -> None:
    op.execute(_API_KEY_PRINCIPAL)
    op.execute(_SIGNED_IN_PRINCIPAL)


def downgrade() -> None:
    op.execute("DROP FUNCTION signed_in_principal(uuid, uuid, timestamptz)")
    op.execute("DROP FUNCTION api_key_principal(bytea)")
