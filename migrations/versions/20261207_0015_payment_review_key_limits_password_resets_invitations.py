"""payments held for review, API keys' own rate limits, password resets and member invitations

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Everything is added, nothing taken away, so the previous release keeps serving on this schema during a rolling
deploy: it never writes the new statuses or columns, and `api_key_principal` only gains a column it does not
select.
"""

import sqlalchemy as sa
from alembic import op

from migrations.sql import definition


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_PAYMENT_STATUSES = "('pending', 'confirmed', 'failed', 'expired', 'refunded', 'review')"
_SETTLEMENTS = "('exact', 'underpaid', 'overpaid', 'manual')"
_OLD_PAYMENT_STATUSES = "('pending', 'confirmed', 'failed', 'expired', 'refunded')"
_OLD_SETTLEMENTS = "('exact', 'underpaid', 'overpaid')"


# api_key_principal gains the key's own rate limit; a function's result columns cannot change in place.
def _replace_api_key_principal(with_rate_limit: bool) -> None:
    op.execute("DROP FUNCTION api_key_principal(bytea)")
    op.execute(definition("api_key_principal", written_by=None if with_rate_limit else "0005"))


def _payment_checks(statuses: str, settlements: str) -> None:
    op.drop_constraint(op.f("ck_payments_status"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_status"), "payments", f"status IN {statuses}")
    op.drop_constraint(op.f("ck_payments_settlement"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_settlement"), "payments", f"settlement IN {settlements}")


def upgrade() -> None:
    op.add_column("payments", sa.Column("review_reason", sa.Text(), nullable=True))
    _payment_checks(_PAYMENT_STATUSES, _SETTLEMENTS)
    op.create_index("ix_payments_review", "payments", ["updated_at"], postgresql_where=sa.text("status = 'review'"))
    op.add_column("api_keys", sa.Column("rate_limit", sa.String(length=40), nullable=True))
    _replace_api_key_principal(with_rate_limit=True)
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_from", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"], unique=False)
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'analyst', 'viewer')", name=op.f("ck_invitations_role")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invitations_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(
        "uq_invitations_open_account_email",
        "invitations",
        ["account_id", "email"],
        unique=True,
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_invitations_open_account_email",
        table_name="invitations",
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )
    op.drop_table("invitations")
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    _replace_api_key_principal(with_rate_limit=False)
    op.drop_column("api_keys", "rate_limit")
    op.drop_index("ix_payments_review", table_name="payments", postgresql_where=sa.text("status = 'review'"))
    # The old schema's nearest states: held for review is pending (nothing was credited), settled by staff exact.
    op.execute("UPDATE payments SET status = 'pending' WHERE status = 'review'")
    op.execute("UPDATE payments SET settlement = 'exact' WHERE settlement = 'manual'")
    _payment_checks(_OLD_PAYMENT_STATUSES, _OLD_SETTLEMENTS)
    op.drop_column("payments", "review_reason")
