"""How the pages write times, durations and ages."""

from __future__ import annotations

from datetime import datetime, UTC

from flask import Flask


def _moment(value: datetime | str) -> datetime | None:
    """A datetime (naive ones are UTC) from one or from ISO-8601 text; None for text that is not."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def when(value: datetime | str | None) -> str:
    """`2026-12-01 03:00:00 UTC`; an empty cell for none."""
    if value is None or value == "":
        return ""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def age(value: datetime | str | None) -> str:
    """How long ago: `5 min ago`."""
    moment = _moment(value) if value else None
    if moment is None:
        return "never"
    return f"{duration((datetime.now(UTC) - moment).total_seconds())} ago"


def register_filters(app: Flask) -> None:
    app.add_template_filter(when)
    app.add_template_filter(duration)
    app.add_template_filter(age)
