"""TOAST compression of the large JSON columns, set where a column is created or changes type."""

from __future__ import annotations

from alembic import op


def set_json_compression(method: str) -> None:
    """A server that lacks the method keeps what it has."""
    op.execute(f"""
        DO $$ BEGIN
            ALTER TABLE jobs ALTER COLUMN data SET COMPRESSION {method}, ALTER COLUMN result SET COMPRESSION {method};
            ALTER TABLE host_baselines ALTER COLUMN state SET COMPRESSION {method};
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
        END $$
    """)
