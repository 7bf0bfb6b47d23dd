"""Reading `timestamp,value` CSV files for the detect command, with row-level errors."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartcompute.detection.telemetry import InvalidTelemetry, parse_timestamps

REQUIRED_COLUMNS = ("timestamp", "value")


class BadSeriesFile(ValueError):
    """A CSV file that cannot be scored; the message names the file and the line."""


@dataclass(frozen=True)
class CsvSeries:
    timestamp_text: list[str]  # as written in the file, echoed to the output
    value_text: list[str]
    timestamps: np.ndarray  # epoch seconds, in the file's order
    values: np.ndarray
    lines: list[int]  # each row's line number in the file


def read_series(path: Path) -> CsvSeries:
    """Parse and validate one file: header with timestamp and value, numeric values, readable timestamps."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader, [])]
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise BadSeriesFile(f"{path}: line 1: missing column {', '.join(missing)} in the header")
        time_column, value_column = header.index("timestamp"), header.index("value")
        rows = [(reader.line_num, row) for row in reader if row]
    if not rows:
        raise BadSeriesFile(f"{path}: no data rows")
    timestamp_text, value_text = [], []
    for line, row in rows:
        if len(row) <= max(time_column, value_column):
            raise BadSeriesFile(f"{path}: line {line}: expected {len(header)} columns, found {len(row)}")
        timestamp_text.append(row[time_column].strip())
        value_text.append(row[value_column].strip())
    lines = [line for line, _ in rows]
    values = _parse_values(path, value_text, lines)
    timestamps = _parse_timestamps(path, timestamp_text, lines)
    return CsvSeries(timestamp_text, value_text, timestamps, values, lines)


def _parse_values(path: Path, texts: list[str], lines: list[int]) -> np.ndarray:
    values = np.empty(len(texts))
    for index, text in enumerate(texts):
        try:
            values[index] = float(text)
        except ValueError:
            raise BadSeriesFile(f"{path}: line {lines[index]}: value {text!r} is not a number") from None
        if not math.isfinite(values[index]):
            raise BadSeriesFile(f"{path}: line {lines[index]}: value {text!r} is not finite")
    return values


def _parse_timestamps(path: Path, texts: list[str], lines: list[int]) -> np.ndarray:
    """ISO-8601 (space or T, optional Z/offset; naive means UTC) or epoch seconds."""
    try:
        return parse_timestamps([_epoch_or_text(text) for text in texts])
    except InvalidTelemetry as error:
        index = int(error.errors[0][0].split("[")[1].rstrip("]"))
        raise BadSeriesFile(
            f"{path}: line {lines[index]}: timestamp {texts[index]!r} is not ISO-8601 or epoch seconds"
        ) from None


def _epoch_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text
