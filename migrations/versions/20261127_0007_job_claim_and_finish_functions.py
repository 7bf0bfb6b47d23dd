"""job claim and finish as functions: one round trip each for a worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op

from migrations.sql import definition


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# A worker used nine round trips per job (BEGINs, try-lock, claim, COMMITs, result, charge, unlock), each
# also parsed and planned by PostgreSQL. As PL/pgSQL functions, called on an autocommit connection, claiming
# is one round trip and finishing another; each function is one transaction, so what it writes commits
# together or not at all, and its statements keep their plans for the life of the connection.


def upgrade() -> None:
    op.execute(definition("settle_job_hold"))
    op.execute(definition("claim_job", written_by="0007"))
    op.execute(definition("finish_job", written_by="0007"))


def downgrade() -> None:
    op.execute("DROP FUNCTION finish_job(uuid, boolean, jsonb, jsonb, jsonb, bigint, timestamptz)")
    op.execute("DROP FUNCTION claim_job(uuid, bigint, timestamptz)")
    op.execute("DROP FUNCTION settle_job_hold(uuid, varchar, timestamptz)")
