"""`smartcompute detect`: score timestamp,value CSV files offline with the streaming detector."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

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
def detect(inputs: tuple[Path, ...], output_dir: Path) -> None:
    """Score each INPUT (a timestamp,value CSV file, or a directory searched for *.csv).

    Writes OUTPUT_DIR/<path relative to the directory given>/<name> with columns
    timestamp,value,anomaly_score (0.5 and above: an incident's onset). Rows
    that repeat a timestamp or go back in time are scored in the order given,
    with one warning line per file on stderr. A bad file is reported on stderr
    and skipped; the exit status is 1 if any file failed.
    """
    jobs = list(_find_jobs(inputs))
    failures = points = 0
    with _progress(jobs) as bar:
        for source, relative in jobs:
            try:
                points += _score_file(source, output_dir / relative)
            except (BadSeriesFile, OSError, UnicodeDecodeError) as error:
                failures += 1
                message = str(error) if isinstance(error, BadSeriesFile) else f"{source}: {error}"
                click.echo(f"error: {message}", err=True)
            bar.update(_size(source), f"{source.name}, {points:,} points scored")
    if failures:
        click.echo(f"{failures} of {len(jobs)} files failed", err=True)
        sys.exit(1)


def _find_jobs(inputs: tuple[Path, ...]):
    """(source file, output path relative to OUTPUT_DIR) for every input."""
    for given in inputs:
        if given.is_dir():
            for source in sorted(given.rglob("*.csv")):
                yield source, source.relative_to(given)
        else:
            yield given, Path(given.name)


def _score_file(source: Path, destination: Path) -> int:
    series = read_series(source)
    for warning in order_warnings(series.timestamps):
        click.echo(
            f"warning: {source}: line {series.lines[warning['first_row']]}: {warning['count']} row(s) "
            f"{_ORDER_PROBLEMS[warning['code']]}; scored in the order given",
            err=True,
        )
    gaps = np.diff(series.timestamps)
    step = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 60.0
    scores = MetricStream().process(series.timestamps, series.values, onset_threshold(step, 1)).scores
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        writer.writerows(zip(series.timestamp_text, series.value_text, (f"{score:.4f}" for score in scores)))
    return len(scores)


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
