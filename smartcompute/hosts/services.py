"""Reading an account's hosts: those an operator described (`hosts` rows) and those that sent telemetry (a learned
baseline), with the open incidents of each host's latest anomaly job."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from smartcompute.pagination import MAX_PAGE_SIZE, InvalidCursor

MAX_NAME_LENGTH = 255

# A host is known by a row of either table; the details of both come with each name.
_HOSTS = text("""
    WITH names AS (
        SELECT name FROM hosts WHERE account_id = :account_id
        UNION SELECT host FROM host_baselines WHERE account_id = :account_id
    )
    SELECT names.name, h.attributes, h.imported, b.updated_at AS baseline_updated_at, b.job_id AS last_job_id,
           j.finished_at AS last_job_finished_at
    FROM names
    LEFT JOIN hosts h ON h.account_id = :account_id AND h.name = names.name
    LEFT JOIN host_baselines b ON b.account_id = :account_id AND b.host = names.name
    LEFT JOIN jobs j ON j.id = b.job_id
    WHERE (CAST(:after AS varchar) IS NULL OR names.name > :after)
      AND (CAST(:only AS varchar) IS NULL OR names.name = :only)
    ORDER BY names.name
    LIMIT :limit
""")
# Only the incidents leave the database, not the job's per-sample scores around them.
_OPEN_INCIDENTS = text("""
    SELECT incident FROM jobs, json_array_elements(jobs.result -> 'incidents') AS incident
    WHERE jobs.id = :job_id AND jobs.account_id = :account_id AND incident ->> 'status' = 'open'
""")


class HostNotFound(LookupError):
    pass


def list_hosts(
    session: Session, account_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the account's hosts by name, and the cursor of the next page (None on the last)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    rows = session.execute(
        _HOSTS,
        {"account_id": account_id, "after": _decode(cursor) if cursor else None, "only": None, "limit": limit + 1},
    ).all()
    views = [_summary(row) for row in rows[:limit]]
    return views, _encode(rows[limit - 1].name) if len(rows) > limit else None


def get_host(session: Session, account_id: uuid.UUID, name: str) -> dict[str, Any]:
    """The host with the open incidents of its latest anomaly job; HostNotFound when the account has no such host."""
    if not 0 < len(name) <= MAX_NAME_LENGTH or "\x00" in name:
        raise HostNotFound(name)
    row = session.execute(_HOSTS, {"account_id": account_id, "after": None, "only": name, "limit": 1}).first()
    if row is None:
        raise HostNotFound(name)
    incidents = (
        []
        if row.last_job_id is None
        else session.execute(_OPEN_INCIDENTS, {"job_id": row.last_job_id, "account_id": account_id}).scalars().all()
    )
    return {**_summary(row), "open_incidents": list(incidents)}


def _summary(row) -> dict[str, Any]:
    return {
        "name": row.name,
        "attributes": row.attributes or {},
        "imported": row.imported,
        "baseline_updated_at": row.baseline_updated_at.isoformat() if row.baseline_updated_at else None,
        "last_job": None
        if row.last_job_id is None
        else {
            "id": str(row.last_job_id),
            "url": f"/v1/jobs/{row.last_job_id}",
            "finished_at": row.last_job_finished_at.isoformat() if row.last_job_finished_at else None,
        },
    }


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None
