"""Run the streaming anomaly detector over the NAB corpus and print its NAB scores.

Usage: python bench/nab_eval.py [--data PATH] [--per-file] [--split] [--nab-probationary]
The data path defaults to $NAB_DATA, else ../shared/data/nab next to the repository.
--split also scores two splits of the files, each half on its own (its own
optimised threshold): artificial vs real, and odd vs even file index (sorted by
name). A change worth keeping should help both halves of both splits.
--nab-probationary hands each detector its file's probationary period as its
learning period, as NAB's runner does for every detector (15% of the file,
at most 750 rows); by default every detector gets the production default.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from nab_score import PROFILES, LabelledSeries, probationary_length, score_corpus  # noqa: E402
from smartcompute.detection.anomaly import AnomalyDetector  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "nab"


def default_data_path() -> Path:
    return Path(os.environ.get("NAB_DATA", DEFAULT_DATA))


def load_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (datetime64[s]) and values of one NAB csv file."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    timestamps = np.array([row["timestamp"].replace(" ", "T") for row in rows], dtype="datetime64[s]")
    return timestamps, np.array([float(row["value"]) for row in rows])


def window_rows(timestamps: np.ndarray, windows: list[list[str]]) -> tuple[tuple[int, int], ...]:
    """Label windows (timestamp pairs) as inclusive row-index pairs."""
    rows = []
    for start, end in windows:
        first = int(np.searchsorted(timestamps, np.datetime64(start.replace(" ", "T")[:19]), side="left"))
        last = int(np.searchsorted(timestamps, np.datetime64(end.replace(" ", "T")[:19]), side="right")) - 1
        rows.append((first, last))
    return tuple(rows)


def load_corpus(data_path: Path) -> list[tuple[str, np.ndarray, np.ndarray, tuple[tuple[int, int], ...]]]:
    labels = json.loads((data_path / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(labels):
        timestamps, values = load_series(data_path / "data" / name)
        corpus.append((name, timestamps, values, window_rows(timestamps, labels[name])))
    return corpus


def nab_probationary_period(row_count: int) -> int:
    """NAB's probationary period for a file: 15% of its rows, at most 15% of 5,000 (750)."""
    return int(probationary_length(row_count))


def detect_corpus(corpus, nab_probationary: bool = False) -> list[LabelledSeries]:
    """Score every file with a fresh detector (one parameter set for all files).

    With `nab_probationary`, each detector's learning period is the file's NAB
    probationary period (NAB's detector interface); otherwise the default.
    """
    scored = []
    for name, _, values, windows in corpus:
        detector = (AnomalyDetector(learning_period=nab_probationary_period(len(values)))
                    if nab_probationary else AnomalyDetector())
        scored.append(LabelledSeries(name, detector.score(values), windows))
    return scored


def evaluate(data_path: Path, nab_probationary: bool = False) -> dict[str, float]:
    scored = detect_corpus(load_corpus(data_path), nab_probationary)
    return {name: score_corpus(scored, profile) for name, profile in PROFILES.items()}


def print_per_file(scored: list[LabelledSeries], threshold: float) -> None:
    profile = PROFILES["standard"]
    for series in scored:
        result = score_corpus([series], profile, threshold)
        print(f"  {series.name:60s} raw {result.raw_score:7.3f}  tp {result.true_positives}"
              f"/{len(series.windows)}  fp {result.false_positives}")


def split_halves(scored: list[LabelledSeries]) -> dict[str, list[LabelledSeries]]:
    """The two splits used to check that a change is not tuned to a few files."""
    return {
        "artificial": [series for series in scored if series.name.startswith("artificial")],
        "real": [series for series in scored if not series.name.startswith("artificial")],
        "even index": scored[0::2],
        "odd index": scored[1::2],
    }


def print_splits(scored: list[LabelledSeries]) -> None:
    for half, files in split_halves(scored).items():
        results = [score_corpus(files, profile) for profile in PROFILES.values()]
        print(f"  {half:12s} ({len(files):2d} files, {sum(len(s.windows) for s in files):2d} windows)  "
              + "  ".join(f"{result.profile} {result.normalised:6.2f}" for result in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument("--per-file", action="store_true", help="show each file's standard-profile result")
    parser.add_argument("--split", action="store_true", help="also score artificial/real and odd/even halves")
    parser.add_argument("--nab-probationary", action="store_true",
                        help="give each detector its file's NAB probationary period as learning period")
    args = parser.parse_args(argv)
    scored = detect_corpus(load_corpus(args.data), args.nab_probationary)
    for name, profile in PROFILES.items():
        result = score_corpus(scored, profile)
        print(f"{name:20s} {result.normalised:6.2f}  (threshold {result.threshold:.4f}, "
              f"TP {result.true_positives}, FP {result.false_positives}, FN {result.false_negatives})")
        if args.per_file and name == "standard":
            print_per_file(scored, result.threshold)
    if args.split:
        print("splits (each half with its own threshold):")
        print_splits(scored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
