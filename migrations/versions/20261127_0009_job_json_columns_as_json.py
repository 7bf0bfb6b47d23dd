"""job data, results, errors and host baselines stored as json, not jsonb

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from alembic import op

from migrations.compression import set_json_compression
from migrations.sql import definition


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# These documents are only ever stored whole and read back whole: no query looks inside them. As jsonb every
# number in them was parsed into a `numeric` on the way in and printed again on the way out. Measured here on
# a job's 28 KB of telemetry, backend CPU per statement, jsonb -> json (both lz4): insert 0.90 -> 0.35 ms,
# read 0.40 -> 0.13 ms; a 15 KB result: insert 0.78 -> 0.23 ms, read 0.28 -> 0.10 ms. json keeps the text
# as written, which is what our own encoder wrote. The functions that take or return them change with them.
_COLUMNS = (("jobs", "data"), ("jobs", "result"), ("jobs", "error"), ("host_baselines", "state"))
# The functions that take or return them, with the revision that wrote each one's version for jsonb and for json
# (None: the current definition).
_FUNCTIONS = (("claim_job", "0007", "0009"), ("finish_job", "0007", "0009"), ("submit_job", "0008", None))
_SIGNATURES = (
    "claim_job(uuid, bigint, timestamptz)",
    "finish_job(uuid, boolean, {json}, {json}, {json}, bigint, timestamptz)",
    "submit_job(uuid, uuid, uuid, varchar, varchar, {json}, varchar, varchar, varchar, varchar, timestamptz, "
    "timestamptz, bigint, date, bigint, bigint)",
)


def upgrade() -> None:
    _convert("jsonb", "json")


def downgrade() -> None:
    _convert("json", "jsonb")


def _convert(old: str, new: str) -> None:
    """Drop the functions, change the columns' type, and create the functions again for the new type."""
    for signature in _SIGNATURES:
        op.execute(f"DROP FUNCTION {signature.format(json=old)}")
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {new} USING {column}::{new}")
    set_json_compression("lz4")  # a new type starts with the server's default again
    for function, for_jsonb, for_json in _FUNCTIONS:
        op.execute(definition(function, written_by=for_json if new == "json" else for_jsonb))
