"""Host telemetry as the engine sees it, and the one parser that builds it from a job's JSON data.

Every check that can be made before a job is queued lives here, so the API rejects bad input with
field-level messages and the engine only ever receives arrays it can trust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, UTC
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

FieldError = tuple[str, str]

# A host's metrics in one job, and the length of a metric's name. Each metric a host reports is a detector whose
# learned state its baseline keeps, so the count is bounded here, where every job's data is checked.
MAX_METRICS = 1000
MAX_METRIC_NAME_LENGTH = 255


class InvalidTelemetry(ValueError):
    """The data cannot be analysed; `errors` lists (field path, message) pairs."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


@dataclass(frozen=True)
class Connections:
    """Network connection records in columns, sorted by timestamp."""

    timestamp: np.ndarray
    src_ip: np.ndarray
    dst_ip: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


@dataclass(frozen=True)
class Process:
    timestamp: float
    name: str
    cmdline: str
    user: str | None
    cpu_percent: float
    memory_percent: float


@dataclass(frozen=True)
class Telemetry:
    timestamps: np.ndarray  # in the order the rows came, which need not be the order of time
    metrics: dict[str, np.ndarray]
    host: str | None
    connections: Connections | None = None
    processes: tuple[Process, ...] = ()
    warnings: tuple[dict, ...] = ()  # what was accepted but looks wrong (repeated or out-of-order rows)

    @property
    def points(self) -> int:
        return int(self.timestamps.shape[0])

    def in_time_order(self) -> Telemetry:
        """The same rows sorted by time (rows with one timestamp keep their order), for analyses of spans."""
        order = np.argsort(self.timestamps, kind="stable")
        return replace(
            self,
            timestamps=self.timestamps[order],
            metrics={name: values[order] for name, values in self.metrics.items()},
        )


def iso8601(epoch_seconds: float) -> str:
    """UTC ISO-8601 with a Z suffix; whole seconds unless the input had a fraction."""
    moment = datetime.fromtimestamp(float(epoch_seconds), tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _timestamp_to_epoch(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be an ISO-8601 string or epoch seconds")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise ValueError("must be an ISO-8601 string or epoch seconds")


_NUMBER_TYPES = {int, float}


def _all_numbers(values: Sequence[Any]) -> bool:
    # One pass over the types, in C; bool is its own type here, so True/False are not numbers.
    return set(map(type, values)) <= _NUMBER_TYPES


# The times a result can name: iso8601 writes years 1 to 9999 in UTC.
_EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_AFTER_LATEST = datetime(9999, 12, 31, tzinfo=UTC).timestamp() + 86_400


def parse_timestamps(values: Sequence[Any], field: str = "timestamps") -> np.ndarray:
    """ISO-8601 strings (naive ones are UTC) or epoch seconds -> float64 epoch seconds."""
    if _all_numbers(values):
        parsed = _finite_array(values, field, "must be finite")
    else:
        parsed = np.empty(len(values), dtype=np.float64)
        for index, value in enumerate(values):
            try:
                parsed[index] = _timestamp_to_epoch(value)
            except ValueError as error:
                raise InvalidTelemetry([(f"{field}[{index}]", str(error))]) from None
    outside = np.flatnonzero((parsed < _EARLIEST) | (parsed >= _AFTER_LATEST))
    if outside.size:
        raise InvalidTelemetry([(f"{field}[{int(outside[0])}]", "must be a time from year 1 to 9999 (UTC)")])
    return parsed


def _require_list(data: Mapping, key: str, path: str) -> list:
    value = data.get(key)
    if not isinstance(value, list):
        raise InvalidTelemetry([(path, "must be an array")])
    return value


def _numeric_array(values: list, field: str) -> np.ndarray:
    if not _all_numbers(values):
        index = next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
        raise InvalidTelemetry([(f"{field}[{index}]", "must be a number")])
    return _finite_array(values, field, "must be a finite number")


def _finite_array(values: Sequence[float], field: str, message: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    non_finite = np.flatnonzero(~np.isfinite(array))
    if non_finite.size:
        raise InvalidTelemetry([(f"{field}[{int(non_finite[0])}]", message)])
    return array


def order_warnings(timestamps: np.ndarray, field: str = "timestamps") -> tuple[dict, ...]:
    """Warnings for rows that repeat the previous row's time (a clock change, a duplicated send) and rows
    earlier than the one before them (a late delivery). Both are accepted and scored in the order given."""
    steps = np.diff(timestamps)
    warnings = []
    for code, rows, what in (
        ("duplicate_timestamps", np.flatnonzero(steps == 0) + 1, "repeat the previous row's time"),
        ("out_of_order_rows", np.flatnonzero(steps < 0) + 1, "are earlier than the row before"),
    ):
        if rows.size:
            first = int(rows[0])
            warnings.append(
                {
                    "code": code,
                    "count": int(rows.size),
                    "first_row": first,
                    "field": f"{field}[{first}]",
                    "message": f"{rows.size} row(s) {what} (first: {field}[{first}]); "
                    "they were scored in the order given",
                }
            )
    return tuple(warnings)


def _parse_metrics(data: Mapping, points: int) -> dict[str, np.ndarray]:
    metrics = data.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        raise InvalidTelemetry([("data.metrics", "must be an object with at least one metric")])
    if len(metrics) > MAX_METRICS:
        raise InvalidTelemetry([("data.metrics", f"has {len(metrics)} metrics; the maximum is {MAX_METRICS}")])
    parsed = {}
    for key, values in metrics.items():
        name = str(key)
        if not 0 < len(name) <= MAX_METRIC_NAME_LENGTH:
            raise InvalidTelemetry(
                [
                    (
                        "data.metrics",
                        f"metric names must be 1 to {MAX_METRIC_NAME_LENGTH} characters; one has {len(name)}",
                    )
                ]
            )
        field = f"data.metrics.{name}"
        if not isinstance(values, list):
            raise InvalidTelemetry([(field, "must be an array of numbers")])
        if len(values) != points:
            raise InvalidTelemetry([(field, f"has {len(values)} values but data.timestamps has {points}")])
        parsed[name] = _numeric_array(values, field)
    return parsed


def _parse_connections(data: Mapping) -> Connections | None:
    records = data.get("connections")
    if records is None:
        return None
    if not isinstance(records, list):
        raise InvalidTelemetry([("data.connections", "must be an array")])
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidTelemetry([(f"data.connections[{index}]", "must be an object")])
    column = _column_reader(records, "data.connections")
    timestamp = parse_timestamps(column("timestamp"), "data.connections.timestamp")
    order = np.argsort(timestamp, kind="stable")
    ports = _numeric_array(column("dst_port"), "data.connections.dst_port")
    bad_port = np.flatnonzero((ports < 0) | (ports > 65535) | (ports != np.floor(ports)))
    if bad_port.size:
        raise InvalidTelemetry([(f"data.connections[{int(bad_port[0])}].dst_port", "must be an integer 0..65535")])
    columns = Connections(
        timestamp=timestamp,
        src_ip=_text_array(column("src_ip"), "data.connections.src_ip"),
        dst_ip=_text_array(column("dst_ip"), "data.connections.dst_ip"),
        dst_port=ports.astype(np.int64),
        protocol=np.char.lower(_text_array(column("protocol", "tcp"), "data.connections.protocol").astype(str)).astype(
            object
        ),
        bytes_out=_non_negative(column("bytes_out", 0), "data.connections.bytes_out"),
        bytes_in=_non_negative(column("bytes_in", 0), "data.connections.bytes_in"),
    )
    return Connections(*(getattr(columns, name)[order] for name in Connections.__dataclass_fields__))


def _column_reader(records: list[Mapping], path: str):
    def column(key: str, default: Any = None) -> list:
        values = [record.get(key, default) for record in records]
        if default is None:
            missing = next((i for i, value in enumerate(values) if value is None), None)
            if missing is not None:
                raise InvalidTelemetry([(f"{path}[{missing}].{key}", "is required")])
        return values

    return column


def _text_array(values: list, field: str) -> np.ndarray:
    bad = next((i for i, value in enumerate(values) if not isinstance(value, str)), None)
    if bad is not None:
        raise InvalidTelemetry([(f"{field}[{bad}]", "must be a string")])
    return np.asarray(values, dtype=object)


def _non_negative(values: list, field: str) -> np.ndarray:
    array = _numeric_array(values, field)
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise InvalidTelemetry([(f"{field}[{int(negative[0])}]", "must not be negative")])
    return array


def _parse_processes(data: Mapping) -> tuple[Process, ...]:
    records = data.get("processes")
    if records is None:
        return ()
    if not isinstance(records, list):
        raise InvalidTelemetry([("data.processes", "must be an array")])
    processes = []
    for index, record in enumerate(records):
        path = f"data.processes[{index}]"
        if not isinstance(record, Mapping):
            raise InvalidTelemetry([(path, "must be an object")])
        processes.append(_parse_process(record, path))
    return tuple(sorted(processes, key=lambda process: process.timestamp))


def _parse_process(record: Mapping, path: str) -> Process:
    name, cmdline, user = record.get("name"), record.get("cmdline", ""), record.get("user")
    if not isinstance(name, str) or not name:
        raise InvalidTelemetry([(f"{path}.name", "must be a non-empty string")])
    if not isinstance(cmdline, str):
        raise InvalidTelemetry([(f"{path}.cmdline", "must be a string")])
    if user is not None and not isinstance(user, str):
        raise InvalidTelemetry([(f"{path}.user", "must be a string")])
    if "timestamp" not in record:
        raise InvalidTelemetry([(f"{path}.timestamp", "is required")])
    try:
        timestamp = _timestamp_to_epoch(record["timestamp"])
    except ValueError as error:
        raise InvalidTelemetry([(f"{path}.timestamp", str(error))]) from None
    usage = {}
    for key in ("cpu_percent", "memory_percent"):
        usage[key] = float(_numeric_array([record.get(key, 0.0)], f"{path}.{key}")[0])
    return Process(timestamp, name, cmdline, user, usage["cpu_percent"], usage["memory_percent"])


def parse_telemetry(data: Mapping, *, max_points: int) -> Telemetry:
    """Validate a job's `data` object and return it as arrays; raises InvalidTelemetry."""
    if not isinstance(data, Mapping):
        raise InvalidTelemetry([("data", "must be an object")])
    raw_timestamps = _require_list(data, "timestamps", "data.timestamps")
    if not raw_timestamps:
        raise InvalidTelemetry([("data.timestamps", "must contain at least one timestamp")])
    if len(raw_timestamps) > max_points:
        raise InvalidTelemetry([("data.timestamps", f"has {len(raw_timestamps)} points; the maximum is {max_points}")])
    timestamps = parse_timestamps(raw_timestamps, "data.timestamps")
    host = data.get("host")
    if host is not None and (not isinstance(host, str) or not 0 < len(host) <= 255):
        raise InvalidTelemetry([("data.host", "must be a string of 1 to 255 characters")])
    return Telemetry(
        timestamps=timestamps,
        metrics=_parse_metrics(data, len(timestamps)),
        host=host,
        connections=_parse_connections(data),
        processes=_parse_processes(data),
        warnings=order_warnings(timestamps, "data.timestamps"),
    )
