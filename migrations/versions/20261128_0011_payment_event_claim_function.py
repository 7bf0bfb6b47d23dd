"""taking a payment event for processing as one function: lock its payment, mark it, return both

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from alembic import op

from migrations.sql import definition


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The payment worker began every event with three round trips: lock the event, lock the payment it names, and
# (last) mark the event processed. One statement doing all three cost more than the three did in PostgreSQL,
# because psycopg2 prepares nothing and its plan was made afresh for every event; as a function, its plans are
# kept for the life of the connection. It runs in the caller's transaction, which applies the event to the
# payment and commits (or rolls all of it back).


def upgrade() -> None:
    op.execute(definition("claim_payment_event"))


def downgrade() -> None:
    op.execute("DROP FUNCTION claim_payment_event(uuid, timestamptz)")
