"""Reading the legacy `smartcompute.db`, as its own schema declared it (docs/ingestion.md lists the tables).

Old databases may lack optional columns or whole tables, carry NULLs in NOT NULL columns, text where a number
belongs, or rows whose parent was deleted: each such row is reported (table, id, why) and left out.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from smartcompute.ingest.legacy.records import (
    Alert,
    BadRow,
    BadValue,
    Baseline,
    LegacySource,
    NotImported,
    Profile,
    Report,
    Sample,
    flag,
    json_value,
    number,
    text,
    timestamp,
)

HARDWARE = (
    "os_name",
    "architecture",
    "cpu_model",
    "cpu_cores",
    "cpu_threads",
    "ram_gb",
    "gpu_type",
    "gpu_available",
    "cuda_available",
    "opencl_available",
    "optimization_strategy",
)
OPTIMIZER_TABLES = ("computation_optimizations", "optimization_history")


class NotALegacyDatabase(Exception):
    pass


def read_database(path: Path) -> LegacySource:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise NotALegacyDatabase(f"{path.name}: not a SQLite database ({error})") from None
    if "system_profiles" not in tables:
        raise NotALegacyDatabase(f"{path.name}: has no system_profiles table; not a SmartCompute database")
    try:
        reader = _Reader(connection, tables)
        source = LegacySource(path.name, reader.identity(), "SQLite")
        reader.read_into(source)
    finally:
        connection.close()
    return source


class _Reader:
    def __init__(self, connection: sqlite3.Connection, tables: set[str]):
        self.connection, self.tables = connection, tables

    def rows(self, table: str, source: LegacySource) -> Iterator[dict[str, Any]]:
        """The table's rows as dicts, every column it may have present (None where an old table lacks it)."""
        if table not in self.tables:
            source.rows_read[table] = 0
            return
        cursor = self.connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        columns = [description[0] for description in cursor.description]
        count = 0
        for values in cursor:
            count += 1
            yield _MissingIsNone(zip(columns, values))
        source.rows_read[table] = count

    def identity(self) -> str:
        """The machines this database describes: its profiles' ids, names and creation times, which the old
        monitor never changed, so the identity holds while the file moves or grows."""
        rows = self.connection.execute("SELECT * FROM system_profiles ORDER BY 1").fetchall()
        names = [row[0] for row in self.connection.execute('PRAGMA table_info("system_profiles")')]
        wanted = [names.index(name) for name in ("id", "profile_name", "created_at") if name in names]
        stable = [[row[index] for index in wanted] for row in rows]
        return "sqlite:" + hashlib.sha256(repr(stable).encode()).hexdigest()[:32]

    def read_into(self, source: LegacySource) -> None:
        for row, profile in _checked(
            source, "system_profiles", self.rows("system_profiles", source), lambda row: _profile(row, source)
        ):
            source.profiles[row["id"]] = profile
        baselines = {}
        for row, baseline in _checked(
            source,
            "performance_baselines",
            self.rows("performance_baselines", source),
            lambda row: _baseline(row, source),
        ):
            baselines[row["id"]] = baseline
            source.baselines.append(baseline)
        sessions = {row["id"]: row.get("session_name") for row in self.rows("monitoring_sessions", source)}
        detections = {}
        for row, sample in _checked(
            source, "anomaly_detections", self.rows("anomaly_detections", source), lambda row: _detection(row, source)
        ):
            detections[row["id"]] = sample
            source.samples.append(sample)
        for _, alert in _checked(
            source,
            "security_alerts",
            self.rows("security_alerts", source),
            lambda row: _alert(row, detections, sessions),
        ):
            source.alerts.append(alert)
        for _, report in _checked(
            source, "performance_reports", self.rows("performance_reports", source), lambda row: _report(row, source)
        ):
            source.reports.append(report)
        for table in OPTIMIZER_TABLES:
            count = sum(1 for _ in self.rows(table, source))
            if count:
                source.not_imported.append(NotImported(table, count, "the compute optimizer's measurements"))


class _MissingIsNone(dict):
    def __missing__(self, key: str) -> None:
        return None


def _checked(source: LegacySource, table: str, rows, build: Callable[[dict], Any]) -> Iterator[tuple[dict, Any]]:
    for row in rows:
        try:
            yield row, build(row)
        except BadValue as error:
            source.bad.append(BadRow(table, row["id"], str(error)))


def _host(row: dict, source: LegacySource) -> str:
    profile = source.profiles.get(row["system_profile_id"])
    if profile is None:
        raise BadValue(f"system_profile_id {row['system_profile_id']} is not a system profile that was imported")
    return profile.name


def _profile(row: dict, source: LegacySource) -> Profile:
    name = text(row["profile_name"], "profile_name", limit=255)
    if any(profile.name == name for profile in source.profiles.values()):
        raise BadValue(f"profile_name {name!r} repeats another profile's")
    attributes = {column: row[column] for column in HARDWARE if row[column] is not None}
    for column in ("gpu_available", "cuda_available", "opencl_available"):
        if column in attributes:
            attributes[column] = flag(attributes[column])
    return Profile(row["id"], name, attributes)


def _baseline(row: dict, source: LegacySource) -> Baseline:
    return Baseline(
        id=row["id"],
        host=_host(row, source),
        name=text(row["baseline_name"], "baseline_name", required=False),
        cpu_mean=number(row["cpu_mean"], "cpu_mean", low=0, high=100),
        cpu_stdev=number(row["cpu_stdev"], "cpu_stdev", low=0),
        memory_mean=number(row["memory_mean"], "memory_mean", low=0, high=100),
        memory_stdev=number(row["memory_stdev"], "memory_stdev", low=0),
        sample_count=int(number(row["sample_count"], "sample_count", low=1)),
        duration_seconds=number(row["measurement_duration"], "measurement_duration", required=False, low=0),
        created_at=timestamp(row["created_at"], "created_at", required=False),
        active=row["is_active"] is None or flag(row["is_active"]),
    )


def _detection(row: dict, source: LegacySource) -> Sample:
    return Sample(
        id=row["id"],
        host=_host(row, source),
        time=timestamp(row["detected_at"], "detected_at"),
        metrics={
            "cpu_percent": number(row["cpu_usage"], "cpu_usage", low=0, high=100),
            "memory_percent": number(row["memory_usage"], "memory_usage", low=0, high=100),
        },
        score=number(row["anomaly_score"], "anomaly_score", required=False),
        severity=text(row["severity"], "severity", required=False, limit=20),
        cpu_zscore=number(row["cpu_zscore"], "cpu_zscore", required=False),
        memory_zscore=number(row["memory_zscore"], "memory_zscore", required=False),
        alerted=flag(row["alert_generated"]),
        baseline_id=row["baseline_id"],
    )


def _alert(row: dict, detections: dict[Any, Sample], sessions: dict[Any, str | None]) -> Alert:
    if row["anomaly_detection_id"] not in detections:
        raise BadValue(f"anomaly_detection_id {row['anomaly_detection_id']} is not a detection that was imported")
    return Alert(
        id=row["id"],
        detection_id=row["anomaly_detection_id"],
        severity=text(row["severity"], "severity", limit=20),
        message=text(row["message"], "message", limit=2000),
        acknowledged=flag(row["acknowledged"]),
        acknowledged_at=timestamp(row["acknowledged_at"], "acknowledged_at", required=False),
        acknowledged_by=text(row["acknowledged_by"], "acknowledged_by", required=False, limit=100),
        session=sessions.get(row["monitoring_session_id"]),
    )


def _report(row: dict, source: LegacySource) -> Report:
    return Report(
        id=row["id"],
        host=_host(row, source),
        report_type=text(row["report_type"], "report_type", limit=50),
        title=text(row["title"], "title", limit=200),
        summary=text(row["summary"], "summary", required=False),
        data=json_value(row["report_data"], "report_data"),
        recommendations=json_value(row["recommendations"], "recommendations", required=False),
        generated_at=timestamp(row["generated_at"], "generated_at"),
        generated_by=text(row["generated_by"], "generated_by", required=False, limit=100),
    )
