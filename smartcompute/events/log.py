"""Reading the event log by position, and pruning it.

An event's position is (tx, id): the id of the transaction that wrote it, then its own id. Ids alone are taken
when a row is written, not when it commits, so a reader that had passed id 11 would never see an id 10 that
committed after it. So a reader delivers only events of transactions older than the oldest one still running
(the snapshot's xmin): those have all ended, and every event written later has a larger tx. Positions are thus
delivered in order, and one a client hands back (`Last-Event-ID`) resumes exactly where it left off.

The price: a transaction that writes and stays open holds back every reader until it ends. The service's own
transactions last milliseconds; docs/decisions/2026-12-07-event-fan-out-through-postgresql.md says more.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from smartcompute.db import Database, connection_of

CHANNEL = "smartcompute_events"  # what the jobs table's trigger NOTIFYs, with the account's id (migration 0018)
JOB_STATUS = "job.status"
INCIDENT_OPENED = "incident.opened"
INCIDENT_CLOSED = "incident.closed"
_POSITION = re.compile(r"^([0-9]{1,19})-([0-9]{1,19})$")
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True, order=True)
class Position:
    tx: int
    id: int

    def __str__(self) -> str:
        return f"{self.tx}-{self.id}"


@dataclass(frozen=True)
class LoggedEvent:
    position: Position
    name: str
    data_json: str  # the event's data as PostgreSQL wrote it


@dataclass(frozen=True)
class Page:
    events: list[LoggedEvent]
    held_back: bool  # later events have committed but wait for an older transaction still running
    full: bool  # the page is as long as asked for: more may follow at once


def parse_position(given: str | None) -> Position | None:
    """The position a client sent back, or None when it is not one this log wrote."""
    matched = _POSITION.match((given or "").strip())
    if matched is None:
        return None
    position = Position(int(matched[1]), int(matched[2]))
    return position if max(position.tx, position.id) < 2**63 else None


_START = text(f"SELECT {_XMIN}")
_RESUMABLE = text(
    "SELECT (:tx, :id) >= (pruned_tx, pruned_id) "
    "AND :tx <= pg_snapshot_xmax(pg_current_snapshot())::text::bigint FROM event_log_state"
)


def start(db: Database) -> Position:
    """Where a reader starts that has no position: every event not yet delivered to anyone (at worst a few
    already committed are delivered again)."""
    return Position(connection_of(db).execute(_START).scalar_one(), 0)


def resumable(db: Database, position: Position) -> bool:
    """False when events after `position` may have been pruned, or the position is from another database."""
    return bool(connection_of(db).execute(_RESUMABLE, {"tx": position.tx, "id": position.id}).scalar())


_READ = text(
    f"WITH horizon AS MATERIALIZED (SELECT {_XMIN} AS xmin) "
    "SELECT e.tx, e.id, e.name, e.data::text AS data, e.tx >= horizon.xmin AS held FROM events AS e, horizon "
    "WHERE e.account_id = CAST(:account AS uuid) AND (e.tx, e.id) > (:tx, :id) "
    "AND (CAST(:job AS uuid) IS NULL OR e.job_id = CAST(:job AS uuid)) ORDER BY e.tx, e.id LIMIT :limit"
)


def read_after(
    db: Database, account_id: uuid.UUID, position: Position, *, job_id: uuid.UUID | None = None, limit: int = 200
) -> Page:
    """The account's events after `position` that can be delivered now, in order (only `job_id`'s, if given)."""
    rows = (
        connection_of(db)
        .execute(
            _READ,
            {
                "account": str(account_id),
                "job": str(job_id) if job_id else None,
                "tx": position.tx,
                "id": position.id,
                "limit": limit,
            },
        )
        .all()
    )
    events: list[LoggedEvent] = []
    for row in rows:
        if row.held:  # those after it are held back too: they sort after it
            return Page(events, held_back=True, full=False)
        events.append(LoggedEvent(Position(row.tx, row.id), row.name, row.data))
    return Page(events, held_back=False, full=len(rows) == limit)


_PRUNE = text(
    "WITH gone AS (DELETE FROM events WHERE id IN (SELECT id FROM events WHERE created_at < now() - :retention "
    "ORDER BY created_at LIMIT :limit) RETURNING tx, id), "
    "last AS (SELECT tx, id FROM gone ORDER BY tx DESC, id DESC LIMIT 1), "
    "moved AS (UPDATE event_log_state AS state SET pruned_tx = last.tx, pruned_id = last.id FROM last "
    "WHERE (last.tx, last.id) > (state.pruned_tx, state.pruned_id) RETURNING 1) "
    "SELECT count(*) FROM gone"
)


def prune(db: Database, retention: timedelta, *, limit: int = 5000) -> int:
    """Delete up to `limit` events older than `retention` and remember the furthest position deleted; how many
    went (the caller commits)."""
    return connection_of(db).execute(_PRUNE, {"retention": retention, "limit": limit}).scalar_one()
