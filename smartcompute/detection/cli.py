"""`smartcompute detect`: score timestamp,value CSV files offline with the streaming detector."""

from __future__ import annotations

import csv
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np

from smartcompute.detection.csv_series import BadSeriesFile, read_series
from smartcompute.detection.metric_stream import MetricStream, onset_threshold
from smartcompute.detection.telemetry import order_warnings


@click.command("detect")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the scored copies are written, mirroring the inputs' layout.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
    show_default="the CPUs this process may run on",
    help="Files scored at once, each in its own process.",
)
def detect(inputs: tuple[Path, ...], output_dir: Path, workers: int) -> None:
    """Score each INPUT (a timestamp,value CSV file, or a directory searched for *.csv).

    Writes OUTPUT_DIR/<path relative to the directory given>/<name> with columns
    timestamp,value,anomaly_score (0.5 and above: an incident's onset). Rows
    that repeat a timestamp or go back in time are scored in the order given,
    with one warning line per file on stderr. A bad file is reported on stderr
    and skipped; the exit status is 1 if any file failed.
    """
    jobs = list(_find_jobs(inputs))
    sources = [source for source, _ in jobs]
    destinations = [output_dir / relative for _, relative in jobs]
    failures = points = 0
    with _progress(jobs) as bar, _pool(workers, len(jobs)) as pool:
        for source, (scored, messages) in zip(sources, pool.map(_score_file, sources, destinations)):
            for message in messages:
                click.echo(message, err=True)
            failures += scored is None
            points += scored or 0
            bar.update(_size(source), f"{source.name}, {points:,} points scored")
    if failures:
        click.echo(f"{failures} of {len(jobs)} files failed", err=True)
        sys.exit(1)


def _pool(workers: int, files: int):
    """Processes that score files side by side (the detector is single-threaded numpy work), or this process
    alone (the built-in `map`) when there is at most one file or one worker."""
    if min(workers, files) <= 1:
        return nullcontext(SimpleNamespace(map=map))
    return ProcessPoolExecutor(max_workers=min(workers, files))


def _find_jobs(inputs: tuple[Path, ...]):
    """(source file, output path relative to OUTPUT_DIR) for every input."""
    for given in inputs:
        if given.is_dir():
            for source in sorted(given.rglob("*.csv")):
                yield source, source.relative_to(given)
        else:
            yield given, Path(given.name)


def _score_file(source: Path, destination: Path) -> tuple[int | None, list[str]]:
    """Score one file: (points scored, or None if it failed; the lines to report on stderr)."""
    try:
        return _write_scores(source, destination)
    except (BadSeriesFile, OSError, UnicodeDecodeError) as error:
        message = str(error) if isinstance(error, BadSeriesFile) else f"{source}: {error}"
        return None, [f"error: {message}"]


def _write_scores(source: Path, destination: Path) -> tuple[int, list[str]]:
    series = read_series(source)
    messages = [
        f"warning: {source}: line {series.lines[warning['first_row']]}: {warning['count']} row(s) "
        f"{_ORDER_PROBLEMS[warning['code']]}; scored in the order given"
        for warning in order_warnings(series.timestamps)
    ]
    gaps = np.diff(series.timestamps)
    step = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 60.0
    scores = MetricStream().process(series.timestamps, series.values, onset_threshold(step, 1)).scores
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        writer.writerows(zip(series.timestamp_text, series.value_text, (f"{score:.4f}" for score in scores)))
    return len(scores), messages


_ORDER_PROBLEMS = {
    "duplicate_timestamps": "repeat the previous row's timestamp",
    "out_of_order_rows": "are earlier than the row before",
}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _NoProgress:
    """Stands in for the progress bar when stderr is not a terminal."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, steps: int, current_item=None) -> None:
        pass


def _progress(jobs):
    """A bar over the files' bytes (a proxy for points), labelled with the points scored so far."""
    if not sys.stderr.isatty():
        return _NoProgress()
    return click.progressbar(
        length=sum(_size(source) for source, _ in jobs),
        label="Scoring",
        file=sys.stderr,
        item_show_func=lambda label: label or "",
    )
