"""the event log: job status changes and incidents, written by triggers, for live updates

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# Every change of a job's status, wherever it is made (submit_job, claim_job, finish_job, a cancel, a requeue),
# writes its event in the same transaction, from a trigger: no caller can forget to. An anomaly_detection job that
# succeeds also writes an event per incident of its result. `tx` is the writing transaction's id: readers deliver
# an event only once every transaction older than the oldest still running has ended, so events become visible in
# (tx, id) order and a reader's position never skips one committed later (smartcompute/events/log.py). The NOTIFY
# names the account; listeners read the events themselves from this table.
_RECORD_JOB_EVENTS = """
CREATE FUNCTION record_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO events (tx, account_id, job_id, name, data, created_at)
    VALUES (v_tx, NEW.account_id, NEW.id, 'job.status', jsonb_build_object(
        'job_id', NEW.id, 'status', NEW.status, 'type', NEW.type, 'host', NEW.host,
        'updated_at', to_char(NEW.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), now());
    IF NEW.status = 'succeeded' AND NEW.type = 'anomaly_detection'
       AND json_typeof(NEW.result -> 'incidents') = 'array' THEN
        INSERT INTO events (tx, account_id, job_id, name, data, created_at)
        SELECT v_tx, NEW.account_id, NEW.id,
               CASE WHEN incident ->> 'status' = 'open' THEN 'incident.opened' ELSE 'incident.closed' END,
               jsonb_build_object('job_id', NEW.id, 'metric', incident -> 'metrics' ->> 0,
                                  'metrics', incident -> 'metrics', 'kind', incident -> 'kind',
                                  'severity', incident -> 'severity', 'start', incident -> 'start',
                                  'end', incident -> 'end'), now()
        FROM json_array_elements(NEW.result -> 'incidents') WITH ORDINALITY AS listed(incident, position)
        ORDER BY position;
    END IF;
    PERFORM pg_notify('smartcompute_events', NEW.account_id::text);
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_events_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_account_position", "events", ["account_id", "tx", "id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    # Where pruning has reached, so a reader resuming from before it is told it may have missed events.
    op.create_table(
        "event_log_state",
        sa.Column("singleton", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("pruned_tx", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pruned_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("singleton", name=op.f("ck_event_log_state_singleton")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_event_log_state")),
    )
    op.execute("INSERT INTO event_log_state DEFAULT VALUES")
    op.execute(_RECORD_JOB_EVENTS)
    # Imported jobs are history, not changes happening now; a status that stays the same changes nothing.
    op.execute("CREATE TRIGGER jobs_inserted_events AFTER INSERT ON jobs FOR EACH ROW "
               "WHEN (NEW.imported IS NULL) EXECUTE FUNCTION record_job_events()")
    op.execute("CREATE TRIGGER jobs_status_events AFTER UPDATE OF status ON jobs FOR EACH ROW "
               "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION record_job_events()")


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_status_events ON jobs")
    op.execute("DROP TRIGGER jobs_inserted_events ON jobs")
    op.execute("DROP FUNCTION record_job_events()")
    op.drop_table("event_log_state")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_index("ix_events_account_position", table_name="events")
    op.drop_table("events")
