"""Keyset pagination, newest first, on (moment, id): pages stay stable while rows are added.

The cursor is the last row's (moment, id), base64url-encoded; a cursor the API did not hand out is
InvalidCursor, which the API answers with 422 naming the `cursor` field.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned")


def encode_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        moment, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        return datetime.fromisoformat(moment), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None


def newest_first(
    session: Session,
    query: Select,
    moment: InstrumentedAttribute,
    row_id: InstrumentedAttribute,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """One page of `query`'s rows, newest first, and the cursor of the next page (None on the last)."""
    if cursor:
        last_moment, last_id = decode_cursor(cursor)
        query = query.where(tuple_(moment, row_id) < tuple_(literal(last_moment), literal(last_id)))
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    rows = list(session.scalars(query.order_by(moment.desc(), row_id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, moment.key), getattr(last, row_id.key))
