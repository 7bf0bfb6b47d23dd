"""Legacy SmartCompute files as the old monitor left them: its SQLite schema as documented (docs/ingestion.md),
1-minute samples with a daily rhythm, alerts raised during CPU surges, reports, the compute optimizer's tables,
and, when asked, the messy rows old databases hold (NULLs, unreadable times, rows whose parent was deleted) and
the JSON files. The tests and bench/legacy_import.py build their files here."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from pathlib import Path

START = datetime(2025, 3, 1, tzinfo=UTC)
# The schema as the legacy code declared it; `strict` keeps its NOT NULLs. Old files were written by versions
# without them (and without the newest optional columns), which is how NULLs got in.
_TABLES = {
    "system_profiles": "id INTEGER {nn} PRIMARY KEY, profile_name VARCHAR(100) UNIQUE, os_name VARCHAR(50) {nn}, "
    "architecture VARCHAR(50) {nn}, cpu_model VARCHAR(200) {nn}, cpu_cores INTEGER {nn}, "
    "cpu_threads INTEGER {nn}, ram_gb FLOAT {nn}, gpu_type VARCHAR(100) {nn}, gpu_available BOOLEAN, "
    "cuda_available BOOLEAN, opencl_available BOOLEAN, optimization_strategy VARCHAR(50) {nn}, "
    "created_at DATETIME, updated_at DATETIME",
    "performance_baselines": "id INTEGER {nn} PRIMARY KEY, system_profile_id INTEGER {nn}, baseline_name VARCHAR(100) "
    "{nn}, cpu_mean FLOAT {nn}, cpu_stdev FLOAT {nn}, memory_mean FLOAT {nn}, memory_stdev "
    "FLOAT {nn}, measurement_duration INTEGER {nn}, sample_count INTEGER {nn}, created_at "
    "DATETIME, is_active BOOLEAN",
    "monitoring_sessions": "id INTEGER {nn} PRIMARY KEY, system_profile_id INTEGER {nn}, baseline_id INTEGER {nn}, "
    "session_name VARCHAR(100) {nn}, check_interval INTEGER {nn}, started_at DATETIME, "
    "ended_at DATETIME, total_checks INTEGER, total_alerts INTEGER, status VARCHAR(20)",
    "anomaly_detections": "id INTEGER {nn} PRIMARY KEY, system_profile_id INTEGER {nn}, baseline_id INTEGER {nn}, "
    "anomaly_score FLOAT {nn}, severity VARCHAR(20) {nn}, cpu_usage FLOAT {nn}, memory_usage "
    "FLOAT {nn}, cpu_zscore FLOAT {nn}, memory_zscore FLOAT {nn}, additional_metrics JSON, "
    "detected_at DATETIME, alert_generated BOOLEAN",
    "security_alerts": "id INTEGER {nn} PRIMARY KEY, monitoring_session_id INTEGER {nn}, anomaly_detection_id INTEGER "
    "{nn}, severity VARCHAR(20) {nn}, message TEXT {nn}, anomaly_score FLOAT {nn}, cpu_usage FLOAT "
    "{nn}, memory_usage FLOAT {nn}, context JSON, acknowledged BOOLEAN{newest}, created_at DATETIME",
    "performance_reports": "id INTEGER {nn} PRIMARY KEY, system_profile_id INTEGER {nn}, report_type VARCHAR(50) {nn}, "
    "title VARCHAR(200) {nn}, summary TEXT {nn}, report_data JSON {nn}, recommendations JSON, "
    "generated_at DATETIME, generated_by VARCHAR(100)",
    "computation_optimizations": "id INTEGER {nn} PRIMARY KEY, operation_key VARCHAR(200) {nn}, precise_time FLOAT, "
    "fast_time FLOAT, accuracy FLOAT, speedup FLOAT, chosen_method VARCHAR(20), "
    "created_at DATETIME",
    "optimization_history": "id INTEGER {nn} PRIMARY KEY, operation_key VARCHAR(200), chosen_method VARCHAR(20), "
    "execution_time FLOAT, timestamp DATETIME",
}
_NEWEST_ALERT_COLUMNS = ", acknowledged_at DATETIME, acknowledged_by VARCHAR(100)"
SURGE_MINUTES = 20  # each host's CPU surge, once a day at its own hour, raises an alert per sample
OPTIMIZER_ROWS = {"computation_optimizations": 12, "optimization_history": 7}


@dataclass
class LegacyDatabase:
    """What a generated file holds, for the tests to compare with what the import says and writes."""

    path: Path
    hosts: list[str]
    days: int
    samples_per_host: int
    surges: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)  # first and last alerted sample
    alerts_acknowledged: set[int] = field(default_factory=set)
    bad_rows: list[tuple[str, int, str]] = field(default_factory=list)  # table, id, a word of the reason


def sqlite_time(moment: datetime, style: int) -> str:
    """The shapes SQLite text timestamps take in old files."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return (text, text + f".{moment.microsecond:06d}", text + "+00:00")[style % 3]


def write_legacy_database(
    path: Path, *, hosts: int = 2, days: int = 2, interval_seconds: int = 60, messy: bool = False, seed: int = 1
) -> LegacyDatabase:
    rng = random.Random(seed)
    connection = sqlite3.connect(path)
    for table, columns in _TABLES.items():
        connection.execute(
            f"CREATE TABLE {table} ({columns.format(nn='' if messy else 'NOT NULL', newest='' if messy else _NEWEST_ALERT_COLUMNS)})"
        )
    names = [f"legacy-host-{index + 1}" for index in range(hosts)]
    samples = days * 86_400 // interval_seconds
    database = LegacyDatabase(path, names, days, samples)
    detection_id = alert_id = 0
    for index, name in enumerate(names, start=1):
        _profile(connection, index, name)
        connection.execute(
            "INSERT INTO performance_baselines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                index,
                index,
                f"{name} baseline",
                30.0,
                6.0,
                55.0,
                3.0,
                3600,
                360,
                sqlite_time(START - timedelta(days=1), 0),
                1,
            ),
        )
        connection.execute(
            "INSERT INTO monitoring_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                index,
                index,
                index,
                f"{name} watch",
                interval_seconds,
                sqlite_time(START, 0),
                sqlite_time(START + timedelta(days=days), 0),
                samples,
                0,
                "completed",
            ),
        )
        rows, alerts = [], []
        surge_hour = 2 + 3 * index
        database.surges[name] = []
        for step in range(samples):
            moment = START + timedelta(seconds=step * interval_seconds)
            minute_of_day = moment.hour * 60 + moment.minute
            surging = surge_hour * 60 <= minute_of_day < surge_hour * 60 + SURGE_MINUTES
            cpu = (
                95.0 + rng.random() * 3
                if surging
                else min(99.0, max(1.0, 30 + 8 * math.sin(2 * math.pi * minute_of_day / 1440) + rng.gauss(0, 3)))
            )
            memory = min(99.0, max(1.0, 55 + rng.gauss(0, 2)))
            cpu_z, memory_z = (cpu - 30) / 6, (memory - 55) / 3
            score = min(100.0, 10 * max(abs(cpu_z), abs(memory_z)))
            detection_id += 1
            rows.append(
                (
                    detection_id,
                    index,
                    index,
                    score,
                    "critical" if surging else "low",
                    round(cpu, 3),
                    round(memory, 3),
                    round(cpu_z, 4),
                    round(memory_z, 4),
                    json.dumps({"load": round(cpu / 25, 2)}),
                    sqlite_time(moment, step),
                    int(surging),
                )
            )
            if surging:
                if minute_of_day == surge_hour * 60:
                    database.surges[name].append((moment, moment + timedelta(minutes=SURGE_MINUTES - 1)))
                alert_id += 1
                acknowledged = alert_id % 2 == 0
                if acknowledged:
                    database.alerts_acknowledged.add(alert_id)
                alert = [
                    alert_id,
                    index,
                    detection_id,
                    "HIGH",
                    f"CPU at {cpu:.0f}% on {name}",
                    score,
                    round(cpu, 3),
                    round(memory, 3),
                    json.dumps({"rule": "zscore"}),
                    int(acknowledged),
                ]
                if not messy:
                    alert += [
                        sqlite_time(moment + timedelta(hours=1), 0) if acknowledged else None,
                        "ops" if acknowledged else None,
                    ]
                alerts.append((*alert, sqlite_time(moment, 0)))
        connection.executemany(f"INSERT INTO anomaly_detections VALUES ({', '.join('?' * 12)})", rows)
        connection.executemany(f"INSERT INTO security_alerts VALUES ({', '.join('?' * len(alerts[0]))})", alerts)
        connection.execute(
            "INSERT INTO performance_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                index,
                index,
                "weekly",
                f"{name}: week one",
                "CPU peaks daily at a fixed hour",
                json.dumps({"cpu_mean": 31.2, "cpu_p95": 96.0}),
                json.dumps(["move the batch job"]),
                sqlite_time(START + timedelta(days=days), 0),
                "smartcompute 1.4",
            ),
        )
    _optimizer(connection)
    if messy:
        _messy_rows(connection, database, detection_id, alert_id)
    connection.commit()
    connection.close()
    return database


def _profile(connection: sqlite3.Connection, index: int, name: str) -> None:
    connection.execute(
        "INSERT INTO system_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            index,
            name,
            "Linux",
            "x86_64",
            "AMD EPYC 7B13",
            8,
            16,
            32.0,
            "none",
            0,
            0,
            1,
            "balanced",
            sqlite_time(START - timedelta(days=30), 0),
            sqlite_time(START, 1),
        ),
    )


def _optimizer(connection: sqlite3.Connection) -> None:
    for row in range(OPTIMIZER_ROWS["computation_optimizations"]):
        connection.execute(
            "INSERT INTO computation_optimizations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row + 1, f"matmul:{row}", 0.8, 0.2, 0.999, 4.0, "fast", sqlite_time(START, 0)),
        )
    for row in range(OPTIMIZER_ROWS["optimization_history"]):
        connection.execute(
            "INSERT INTO optimization_history VALUES (?, ?, ?, ?, ?)",
            (row + 1, f"matmul:{row}", "fast", 0.2, sqlite_time(START, 0)),
        )


def _messy_rows(connection: sqlite3.Connection, database: LegacyDatabase, last_detection: int, last_alert: int) -> None:
    """Rows as old databases hold them; each is recorded with the word its reason must name."""
    bad = database.bad_rows
    connection.execute("INSERT INTO system_profiles (id, profile_name, os_name) VALUES (50, NULL, 'Linux')")
    bad.append(("system_profiles", 50, "profile_name"))
    moment = sqlite_time(START + timedelta(hours=1, seconds=30), 0)
    for offset, (profile, cpu, when, word) in enumerate(
        [
            (1, None, moment, "cpu_usage"),
            (1, 20.0, "yesterday-ish", "detected_at"),
            (1, 20.0, None, "detected_at"),
            (999, 20.0, moment, "system_profile_id"),
            (50, 20.0, moment, "system_profile_id"),
            (2, 130.0, moment, "cpu_usage"),
        ],
        start=1,
    ):
        connection.execute(
            "INSERT INTO anomaly_detections (id, system_profile_id, baseline_id, anomaly_score, severity, "
            "cpu_usage, memory_usage, cpu_zscore, memory_zscore, detected_at, alert_generated) "
            "VALUES (?, ?, 1, 5.0, 'low', ?, 50.0, NULL, NULL, ?, NULL)",
            (last_detection + offset, profile, cpu, when),
        )
        bad.append(("anomaly_detections", last_detection + offset, word))
    connection.execute(
        "INSERT INTO security_alerts (id, monitoring_session_id, anomaly_detection_id, severity, message) "
        "VALUES (?, 1, 99999999, 'HIGH', 'orphan')",
        (last_alert + 1,),
    )
    bad.append(("security_alerts", last_alert + 1, "anomaly_detection_id"))
    connection.execute(
        "INSERT INTO security_alerts (id, monitoring_session_id, anomaly_detection_id, severity, message) "
        "VALUES (?, 1, 1, 'HIGH', NULL)",
        (last_alert + 2,),
    )
    bad.append(("security_alerts", last_alert + 2, "message"))
    connection.execute(
        "INSERT INTO performance_baselines (id, system_profile_id, baseline_name, cpu_mean, is_active) "
        "VALUES (20, 2, 'broken', NULL, 0)"
    )
    bad.append(("performance_baselines", 20, "cpu_mean"))
    connection.execute(
        "INSERT INTO performance_reports (id, system_profile_id, report_type, title, summary, report_data, "
        "generated_at) VALUES (20, 1, 'daily', 'cut short', 's', '{\"cpu\": ', ?)",
        (moment,),
    )
    bad.append(("performance_reports", 20, "report_data"))


def write_legacy_json(directory: Path, *, host: str = "json-host", hours: int = 3) -> dict[str, int]:
    """A JSON directory: a baseline, a metric export named for its host, an unnamed export (its host must be
    given), analysis records and the optimizer's memory. Returns what each holds."""
    data = directory / "data"
    data.mkdir(parents=True)
    (data / f"{host}_baseline.json").write_text(
        json.dumps(
            {
                "baseline_name": "desk",
                "cpu_mean": 12.0,
                "cpu_stdev": 2.0,
                "memory_mean": 40.0,
                "memory_stdev": 1.5,
                "sample_count": 600,
                "measurement_duration": 3600,
                "created_at": "2025-02-01 10:00:00",
            }
        )
    )
    samples = [
        {
            "timestamp": (START + timedelta(minutes=minute)).isoformat(),
            "cpu_percent": 10 + minute % 7,
            "memory_percent": 40.0 + (minute % 3) / 10,
            "disk_percent": 61.5,
        }
        for minute in range(hours * 60)
    ]
    samples.append({"timestamp": "not a time", "cpu_percent": 1.0})
    (data / f"{host}_metrics_history.json").write_text(json.dumps(samples))
    (data / "metrics_history.json").write_text(json.dumps(samples[:30]))
    (data / "anomaly_history.json").write_text(
        json.dumps(
            [{"timestamp": "2025-03-01T00:00:00", "anomaly_score": 0.2, "processing_time_ms": 12, "confidence": 0.9}]
            * 4
        )
    )
    (directory / "smart_history.json").write_text(
        json.dumps(
            {
                f"op{i}": {
                    "precise_time": 1.0,
                    "fast_time": 0.1,
                    "accuracy": 0.99,
                    "speedup": 10,
                    "last_choice": "fast",
                    "samples": 5,
                }
                for i in range(9)
            }
        )
    )
    return {"samples": hours * 60, "unnamed_samples": 30, "analysis_records": 4, "optimizer_operations": 9}
