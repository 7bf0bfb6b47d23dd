"""Payments and credits: credit ledger, payments, provider events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The ledger is append-only and the balance is its sum, enforced by the database itself: an AFTER INSERT
trigger on credit_ledger adds each amount to credit_balances (whose CHECKs keep it from going negative or
below what is held for jobs), and a BEFORE UPDATE OR DELETE trigger refuses to change a ledger row, except
the cascade when an account is deleted.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from migrations.sql import definition

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_balances",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_credit_balances_balance_not_negative")),
        sa.CheckConstraint("held >= 0 AND held <= balance", name=op.f("ck_credit_balances_held_within_balance")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_credit_balances_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_credit_balances")),
    )
    op.create_table(
        "credit_holds",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('held', 'charged', 'released')", name=op.f("ck_credit_holds_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_holds_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_credit_holds_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_credit_holds")),
    )
    op.create_index(op.f("ix_credit_holds_account_id"), "credit_holds", ["account_id"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column("product_kind", sa.String(length=10), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("price_amount", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("price_currency", sa.String(length=10), nullable=False),
        sa.Column("pay_currency", sa.String(length=10), nullable=False),
        sa.Column("pay_amount", sa.Numeric(precision=30, scale=12), nullable=True),
        sa.Column("pay_address", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("settlement", sa.String(length=10), nullable=True),
        sa.Column("amount_paid", sa.Numeric(precision=30, scale=12), nullable=True),
        sa.Column("credited", sa.BigInteger(), nullable=False),
        sa.Column("unrecovered", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("product_kind IN ('pack', 'plan')", name=op.f("ck_payments_product_kind")),
        sa.CheckConstraint("settlement IN ('exact', 'underpaid', 'overpaid')", name=op.f("ck_payments_settlement")),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'failed', 'expired', 'refunded')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_payments_credits")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_payment_id"),
    )
    op.create_index(
        "ix_payments_account_newest",
        "payments",
        ["account_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "credit_ledger",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('payment', 'refund', 'job', 'grant', 'adjustment')", name=op.f("ck_credit_ledger_reason")
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_credit_ledger_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_credit_ledger_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_credit_ledger_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger")),
        sa.UniqueConstraint("entry_key", name=op.f("uq_credit_ledger_entry_key")),
    )
    op.create_index(
        "ix_credit_ledger_account_newest",
        "credit_ledger",
        ["account_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(op.f("ix_credit_ledger_job_id"), "credit_ledger", ["job_id"], unique=False)
    op.create_index(op.f("ix_credit_ledger_payment_id"), "credit_ledger", ["payment_id"], unique=False)
    op.add_column("webhook_events", sa.Column("normalized", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("webhook_events", sa.Column("payment_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_webhook_events_payment_id"), "webhook_events", ["payment_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_webhook_events_payment_id_payments"),
        "webhook_events",
        "payments",
        ["payment_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint(op.f("ck_webhook_events_status"), "webhook_events", type_="check")
    op.create_check_constraint(
        op.f("ck_webhook_events_status"), "webhook_events", "status IN ('received', 'processed', 'failed', 'dead')"
    )
    op.create_index(
        "ix_webhook_events_dead", "webhook_events", ["received_at"], postgresql_where=sa.text("status = 'dead'")
    )
    op.execute(definition("credit_ledger_apply"))
    op.execute(
        "CREATE TRIGGER credit_ledger_apply AFTER INSERT ON credit_ledger "
        "FOR EACH ROW EXECUTE FUNCTION credit_ledger_apply()"
    )
    op.execute(definition("credit_ledger_append_only"))
    op.execute(
        "CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger "
        "FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER credit_ledger_append_only ON credit_ledger")
    op.execute("DROP TRIGGER credit_ledger_apply ON credit_ledger")
    op.execute("DROP FUNCTION credit_ledger_append_only()")
    op.execute("DROP FUNCTION credit_ledger_apply()")
    op.drop_index("ix_webhook_events_dead", table_name="webhook_events", postgresql_where=sa.text("status = 'dead'"))
    op.execute("UPDATE webhook_events SET status = 'failed' WHERE status = 'dead'")
    op.drop_constraint(op.f("ck_webhook_events_status"), "webhook_events", type_="check")
    op.create_check_constraint(
        op.f("ck_webhook_events_status"), "webhook_events", "status IN ('received', 'processed', 'failed')"
    )
    op.drop_constraint(op.f("fk_webhook_events_payment_id_payments"), "webhook_events", type_="foreignkey")
    op.drop_index(op.f("ix_webhook_events_payment_id"), table_name="webhook_events")
    op.drop_column("webhook_events", "payment_id")
    op.drop_column("webhook_events", "normalized")
    op.drop_index(op.f("ix_credit_ledger_payment_id"), table_name="credit_ledger")
    op.drop_index(op.f("ix_credit_ledger_job_id"), table_name="credit_ledger")
    op.drop_index("ix_credit_ledger_account_newest", table_name="credit_ledger")
    op.drop_table("credit_ledger")
    op.drop_index("ix_payments_account_newest", table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_credit_holds_account_id"), table_name="credit_holds")
    op.drop_table("credit_holds")
    op.drop_table("credit_balances")
