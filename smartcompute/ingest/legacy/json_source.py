"""Reading a directory of the legacy SmartCompute's JSON files.

- `*_baseline.json`: one baseline object, for the host its name's stem names (`web-1_baseline.json`);
- `*_history.json` and other lists: metric samples (`timestamp` with `cpu_percent` and/or `memory_percent`) go in
  as the host's history; analysis records (scores without telemetry) have no counterpart and are counted;
- `smart_history.json`: the compute optimizer's memory, counted and not imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smartcompute.ingest.legacy.records import (
    BadRow,
    BadValue,
    Baseline,
    LegacySource,
    NotImported,
    Sample,
    flag,
    number,
    text,
    timestamp,
)

OPTIMIZER_FILE = "smart_history.json"
SAMPLE_METRICS = ("cpu_percent", "memory_percent")
_HOST_FIELDS = ("host", "hostname", "system", "profile_name")


def read_directory(directory: Path, default_host: str | None) -> LegacySource:
    """`default_host` names the host of metric samples whose record and file name name none."""
    source = LegacySource(directory.name or str(directory), "json", "JSON")
    for path in sorted(directory.rglob("*.json")):
        relative = path.relative_to(directory).as_posix()
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            source.bad.append(BadRow(relative, None, f"cannot be read as JSON ({_one_line(error)})"))
            continue
        if path.name == OPTIMIZER_FILE:
            count = len(content) if isinstance(content, (dict, list)) else 1
            source.not_imported.append(NotImported(relative, count, "the compute optimizer's memory (operations)"))
        elif path.stem.endswith("_baseline"):
            _baseline_file(source, relative, path.stem[: -len("_baseline")], content)
        elif isinstance(content, list):
            _record_list(source, relative, content, _host_from_name(path.stem) or default_host)
        else:
            source.not_imported.append(NotImported(relative, 1, "not a file the legacy SmartCompute wrote"))
        source.rows_read[relative] = len(content) if isinstance(content, list) else 1
    return source


def _host_from_name(stem: str) -> str | None:
    for suffix in ("_metrics_history", "_history", "_metrics"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem[:255] if stem and stem not in ("metrics", "metrics_history", "anomaly", "threat", "analysis") else None


def _baseline_file(source: LegacySource, relative: str, host: str, content: Any) -> None:
    if not isinstance(content, dict):
        source.bad.append(BadRow(relative, None, "a baseline file must hold one object"))
        return
    try:
        source.baselines.append(
            Baseline(
                id=relative,
                host=text(content.get("host") or content.get("hostname") or host, "host", limit=255),
                name=text(content.get("baseline_name") or content.get("name"), "baseline_name", required=False),
                cpu_mean=number(content.get("cpu_mean"), "cpu_mean", low=0, high=100),
                cpu_stdev=number(content.get("cpu_stdev"), "cpu_stdev", low=0),
                memory_mean=number(content.get("memory_mean"), "memory_mean", low=0, high=100),
                memory_stdev=number(content.get("memory_stdev"), "memory_stdev", low=0),
                sample_count=int(number(content.get("sample_count") or content.get("samples"), "sample_count", low=1)),
                duration_seconds=number(
                    content.get("measurement_duration"), "measurement_duration", required=False, low=0
                ),
                created_at=timestamp(content.get("created_at"), "created_at", required=False),
                active=content.get("is_active") is None or flag(content.get("is_active")),
            )
        )
    except BadValue as error:
        source.bad.append(BadRow(relative, None, str(error)))


def _record_list(source: LegacySource, relative: str, records: list, file_host: str | None) -> None:
    analyses = 0
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            source.bad.append(BadRow(relative, index, "a record must be an object"))
        elif not any(name in record for name in SAMPLE_METRICS):
            analyses += 1
        else:
            try:
                source.samples.append(_sample(record, relative, index, file_host))
            except BadValue as error:
                source.bad.append(BadRow(relative, index, str(error)))
    if analyses:
        source.not_imported.append(NotImported(relative, analyses, "analysis records (scores without telemetry)"))


def _sample(record: dict, relative: str, index: int, file_host: str | None) -> Sample:
    host = next(
        (record[name] for name in _HOST_FIELDS if isinstance(record.get(name), str) and record[name]), file_host
    )
    if host is None:
        raise BadValue("names no host, nor does its file's name: give --json-host")
    metrics = {}
    for name, value in record.items():
        if name in SAMPLE_METRICS or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and name not in ("timestamp", "time", "id")
        ):
            percent = name in SAMPLE_METRICS
            metrics[str(name)[:255]] = number(
                value, name, low=0 if percent else -float("inf"), high=100 if percent else float("inf")
            )
    return Sample(
        id=f"{relative}#{index}",
        host=host[:255],
        time=timestamp(record.get("timestamp", record.get("time")), "timestamp"),
        metrics=metrics,
        table=relative,
    )


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]
