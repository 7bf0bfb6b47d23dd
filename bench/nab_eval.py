"""Score the NAB corpus with the streaming detector and print its NAB scores.

Usage: python -m bench.nab_eval [--data PATH] [--per-file]
The data path defaults to $NAB_DATA, else ../shared/data/nab next to the repository. Every file gets a fresh
detector with one parameter set, as `smartcompute detect` scores it (one metric, the threshold for its own
sampling interval).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.nab_score import PROFILES, LabelledSeries, score_corpus
from smartcompute.detection.metric_stream import MetricStream, onset_threshold

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "nab"


@dataclass(frozen=True)
class Series:
    name: str  # path relative to data/, as in the label file
    timestamps: np.ndarray  # epoch seconds
    values: np.ndarray
    windows: tuple[tuple[int, int], ...]  # labelled windows as inclusive row ranges

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


def default_data_path() -> Path:
    return Path(os.environ.get("NAB_DATA", DEFAULT_DATA))


def load_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (epoch seconds) and values of one NAB csv file."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    stamps = np.array([row["timestamp"].replace(" ", "T") for row in rows], dtype="datetime64[s]")
    return stamps.astype(np.int64).astype(float), np.array([float(row["value"]) for row in rows])


def window_rows(timestamps: np.ndarray, windows: list[list[str]]) -> tuple[tuple[int, int], ...]:
    """Label windows (timestamp pairs) as inclusive row-index pairs."""
    rows = []
    for start, end in windows:
        first_time = np.datetime64(start.replace(" ", "T")[:19]).astype(np.int64)
        last_time = np.datetime64(end.replace(" ", "T")[:19]).astype(np.int64)
        first = int(np.searchsorted(timestamps, first_time, side="left"))
        last = int(np.searchsorted(timestamps, last_time, side="right")) - 1
        rows.append((first, last))
    return tuple(rows)


def load_corpus(data_path: Path) -> list[Series]:
    labels = json.loads((data_path / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(labels):
        timestamps, values = load_series(data_path / "data" / name)
        corpus.append(Series(name, timestamps, values, window_rows(timestamps, labels[name])))
    return corpus


def score_series(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """One file's onset scores from a fresh detector, judged as a one-metric host."""
    gaps = np.diff(timestamps)
    step = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 60.0
    return MetricStream().process(timestamps, values, onset_threshold(step, 1)).scores


def detect_corpus(corpus: list[Series]) -> list[LabelledSeries]:
    return [
        LabelledSeries(series.name, score_series(series.timestamps, series.values), series.windows) for series in corpus
    ]


def evaluate(data_path: Path) -> dict:
    scored = detect_corpus(load_corpus(data_path))
    return {name: score_corpus(scored, profile) for name, profile in PROFILES.items()}


def print_per_file(scored: list[LabelledSeries], threshold: float) -> None:
    for series in scored:
        result = score_corpus([series], PROFILES["standard"], threshold)
        print(
            f"  {series.name:60s} raw {result.raw_score:7.3f}  tp {result.true_positives}"
            f"/{len(series.windows)}  fp {result.false_positives}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument("--per-file", action="store_true", help="show each file's standard-profile result")
    args = parser.parse_args(argv)
    scored = detect_corpus(load_corpus(args.data))
    for name, profile in PROFILES.items():
        result = score_corpus(scored, profile)
        print(
            f"{name:20s} {result.normalised:6.2f}  (threshold {result.threshold:.4f}, "
            f"TP {result.true_positives}, FP {result.false_positives}, FN {result.false_negatives})"
        )
        if args.per_file and name == "standard":
            print_per_file(scored, result.threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
