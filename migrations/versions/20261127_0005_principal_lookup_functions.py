"""principal lookup functions with cached plans

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from alembic import op

from migrations.sql import definition


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Every authenticated request resolves its caller with one of these three-table joins. As plain statements
# PostgreSQL plans them on every call, and planning costs more than running them; a PL/pgSQL function keeps
# its plan for the life of the server connection (safe behind PgBouncer, unlike PREPARE).


def upgrade() -> None:
    op.execute(definition("api_key_principal", written_by="0005"))
    op.execute(definition("signed_in_principal"))


def downgrade() -> None:
    op.execute("DROP FUNCTION signed_in_principal(uuid, uuid, timestamptz)")
    op.execute("DROP FUNCTION api_key_principal(bytea)")
