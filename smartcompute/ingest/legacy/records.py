"""The legacy data as read: each row checked and typed, each bad row named by table and id, and each thing
without a counterpart counted."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any, Literal, overload


class BadValue(ValueError):
    """A value the import cannot use; the message says which and why."""


@dataclass(frozen=True)
class BadRow:
    table: str  # or a JSON file's path
    id: Any  # the row's id, or a record's index in its file
    reason: str


@dataclass(frozen=True)
class NotImported:
    what: str
    count: int
    reason: str


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Baseline:
    id: Any
    host: str
    name: str | None
    cpu_mean: float
    cpu_stdev: float
    memory_mean: float
    memory_stdev: float
    sample_count: int
    duration_seconds: float | None
    created_at: float | None
    active: bool


@dataclass(frozen=True)
class Sample:
    """A scored sample of the legacy monitor (anomaly_detections), or a metric export's sample."""

    id: Any
    host: str
    time: float
    metrics: dict[str, float]  # cpu_percent, memory_percent, and any other numbers an export holds
    score: float | None = None  # 0..100
    severity: str | None = None
    cpu_zscore: float | None = None
    memory_zscore: float | None = None
    alerted: bool = False
    baseline_id: Any = None
    table: str = "anomaly_detections"  # or the JSON file it came from


@dataclass(frozen=True)
class Alert:
    id: Any
    detection_id: Any
    severity: str
    message: str
    acknowledged: bool
    acknowledged_at: float | None
    acknowledged_by: str | None
    session: str | None


@dataclass(frozen=True)
class Report:
    id: Any
    host: str
    report_type: str
    title: str
    summary: str | None
    data: Any
    recommendations: Any
    generated_at: float
    generated_by: str | None


@dataclass
class LegacySource:
    """One legacy file or directory, as read."""

    name: str  # as the report shows it (a file's name)
    identity: str  # what keys of its rows derive from, stable when the file moves or grows
    kind: str  # "SQLite" or "JSON"
    rows_read: dict[str, int] = field(default_factory=dict)
    profiles: dict[Any, Profile] = field(default_factory=dict)
    baselines: list[Baseline] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    not_imported: list[NotImported] = field(default_factory=list)


# A required value is never None (a missing one raises BadValue), which the overloads tell the type checker.
@overload
def timestamp(value: Any, column: str, *, required: Literal[True] = ...) -> float: ...
@overload
def timestamp(value: Any, column: str, *, required: bool) -> float | None: ...


def timestamp(value: Any, column: str, *, required: bool = True) -> float | None:
    """SQLite's text timestamps (`YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]`, or ISO 8601) or epoch seconds; naive
    ones are UTC."""
    if value is None or value == "":
        if required:
            raise BadValue(f"{column} is missing")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"{column} {str(value)[:40]!r} is not a timestamp") from None
    if not 1 <= moment.year <= 9998:
        raise BadValue(f"{column} {str(value)[:40]!r} is out of range")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@overload
def number(value: Any, column: str, *, required: Literal[True] = ..., low: float = ..., high: float = ...) -> float: ...
@overload
def number(value: Any, column: str, *, required: bool, low: float = ..., high: float = ...) -> float | None: ...


def number(
    value: Any, column: str, *, required: bool = True, low: float = -math.inf, high: float = math.inf
) -> float | None:
    if value is None or value == "":
        if required:
            raise BadValue(f"{column} is missing")
        return None
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"{column} {str(value)[:40]!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(parsed) or not low <= parsed <= high:
        raise BadValue(f"{column} {str(value)[:40]!r} is outside {low:g} to {high:g}")
    return parsed


@overload
def text(value: Any, column: str, *, required: Literal[True] = ..., limit: int = ...) -> str: ...
@overload
def text(value: Any, column: str, *, required: bool, limit: int = ...) -> str | None: ...


def text(value: Any, column: str, *, required: bool = True, limit: int = 100_000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadValue(f"{column} is missing")
        return None
    return str(value).replace("\x00", "")[:limit]


def flag(value: Any) -> bool:
    """SQLite booleans: 1/0, or text; NULL is false."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(value)


def json_value(value: Any, column: str, *, required: bool = True) -> Any:
    """A JSON column: SQLite keeps it as text."""
    if value is None:
        if required:
            raise BadValue(f"{column} is missing")
        return None
    if not isinstance(value, (str, bytes)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise BadValue(f"{column} is not JSON") from None
