"""job data, results, errors and host baselines stored as json, not jsonb

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from alembic import op
from alembic.script import ScriptDirectory


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# These documents are only ever stored whole and read back whole: no query looks inside them. As jsonb every
# number in them was parsed into a `numeric` on the way in and printed again on the way out. Measured here on
# a job's 28 KB of telemetry, backend CPU per statement, jsonb -> json (both lz4): insert 0.90 -> 0.35 ms,
# read 0.40 -> 0.13 ms; a 15 KB result: insert 0.78 -> 0.23 ms, read 0.28 -> 0.10 ms. json keeps the text
# as written, which is what our own encoder wrote. The functions that take or return them change with them.
_COLUMNS = (("jobs", "data"), ("jobs", "result"), ("jobs", "error"), ("host_baselines", "state"))
_FUNCTIONS = (  # (revision that created it, name of its SQL in that revision, signature with jsonb)
    ("0007", "_CLAIM_JOB", "claim_job(uuid, bigint, timestamptz)"),
    ("0007", "_FINISH_JOB", "finish_job(uuid, boolean, jsonb, jsonb, jsonb, bigint, timestamptz)"),
    ("0008", "_SUBMIT_JOB", "submit_job(uuid, uuid, uuid, varchar, varchar, jsonb, varchar, varchar, varchar, "
                            "varchar, timestamptz, timestamptz, bigint, date, bigint, bigint)"),
)


def upgrade() -> None:
    _convert("jsonb", "json")


def downgrade() -> None:
    _convert("json", "jsonb")


def _convert(old: str, new: str) -> None:
    """Drop the functions, change the columns' type, and create the functions again for the new type.

    The functions' text, and the columns' compression, come from the revisions that wrote them (Alembic's
    "replaceable objects" recipe), with only the JSON type changed, so each has one definition.
    """
    for _, _, signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {_with_type(signature, old)}")
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {new} USING {column}::{new}")
    _revision_module("0004")._set_json_compression("lz4")  # a new type starts with the server's default again
    for source, name, _ in _FUNCTIONS:
        op.execute(_with_type(getattr(_revision_module(source), name), new))


def _with_type(sql: str, json_type: str) -> str:
    return sql.replace("jsonb", json_type)


def _revision_module(revision_id: str):
    return ScriptDirectory.from_config(op.get_context().config).get_revision(revision_id).module
