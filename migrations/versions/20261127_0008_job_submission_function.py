"""job submission as one function: insert, credit hold and quotas in one statement

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from alembic import op

from migrations.sql import definition


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A submission used to be six round trips in one transaction (BEGIN, insert, hold, daily counter, in-flight
# count, COMMIT). The credit balance and the daily counter are rows every submission of the account locks
# until its commit, so those round trips were spent holding them, and under load the account's submissions
# queued behind a client thread that the scheduler had put aside. As one function, called on an autocommit
# connection, the rows stay locked only for the rest of the statement and its commit.


def upgrade() -> None:
    op.execute(definition("submit_job", written_by="0008"))


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION submit_job(uuid, uuid, uuid, varchar, varchar, jsonb, varchar, varchar, varchar, "
        "varchar, timestamptz, timestamptz, bigint, date, bigint, bigint)"
    )
