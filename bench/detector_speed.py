"""How fast the anomaly detector scores, in process and end to end, and how big its results and state are.

Usage: python -m bench.detector_speed [--data PATH] [--repeat N]

- points/s scoring every NAB series with a fresh detector, in process, one core;
- points/s of one anomaly_detection job of 1, 10 and 100 metrics x 1,000 points (a new host's job), and of one
  that continues a host's baseline (most jobs: its history is full, so its reference is rebuilt least often);
- `smartcompute detect` over the NAB files end to end: process start, CSV parsing, scoring, writing;
- the size of a job's result for 10 metrics x 10,000 points, and of a metric's saved state.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import procs
from bench.nab_eval import default_data_path, load_corpus, score_series
from smartcompute.detection.anomaly_report import analyze_anomalies
from smartcompute.detection.telemetry import Telemetry


def corpus_points_per_second(series, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for item in series:
            score_series(item.timestamps, item.values)
    return repeat * sum(item.values.size for item in series) / (time.perf_counter() - started)


def host_job(metrics: int, points: int, seed: int = 1, first: int = 0) -> Telemetry:
    """One minute-sampled job of `metrics` x `points`, its first sample `first` minutes into the host's life."""
    rng = np.random.default_rng(seed)
    timestamps = 1.7e9 + 60.0 * np.arange(first, first + points)
    return Telemetry(timestamps, {f"metric_{i}": 50 + rng.normal(0, 1, points) for i in range(metrics)}, "bench")


def job_points_per_second(metrics: int, points: int, warm: bool = False, seconds: float = 2.0) -> float:
    """A new host's job, or (warm) one that continues the baseline of a host with three days behind it."""
    baseline = analyze_anomalies(host_job(metrics, 3 * 1440, seed=2), None)[1] if warm else None
    telemetry, done = host_job(metrics, points, first=3 * 1440 if warm else 0), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        analyze_anomalies(telemetry, baseline)
        done += 1
    return done * metrics * points / (time.perf_counter() - started)


def detect_end_to_end(data: Path) -> tuple[float, int]:
    """Seconds for `smartcompute detect` over the NAB data directory, and the points it scored."""
    points = sum(item.values.size for item in load_corpus(data))
    with tempfile.TemporaryDirectory() as output:
        started = time.perf_counter()
        command = Path(sys.executable).parent / "smartcompute"  # the installed console script, as a user runs it
        subprocess.run(
            [str(command), "detect", str(data / "data"), "--output-dir", output], check=True, capture_output=True
        )
        return time.perf_counter() - started, points


def sizes() -> tuple[int, int]:
    """Bytes of a 10 x 10,000 job's result as JSON, and of one metric's saved state."""
    result, baseline = analyze_anomalies(host_job(10, 10_000), None)
    state = next(iter(baseline["metrics"].values()))
    return len(json.dumps(result)), len(json.dumps(state))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    series = load_corpus(args.data)
    before = procs.python_loop_seconds()
    print(f"NAB corpus: {sum(item.values.size for item in series):,} points in {len(series)} files")
    print(f"in process: {corpus_points_per_second(series, args.repeat):,.0f} points/s (one core)")
    for metrics in (1, 10, 100):
        print(f"one job of {metrics} metric(s) x 1,000 points: {job_points_per_second(metrics, 1000):,.0f} points/s")
    warm = job_points_per_second(10, 1000, warm=True)
    print(f"one job of 10 metrics x 1,000 points continuing a host's baseline: {warm:,.0f} points/s")
    seconds, points = detect_end_to_end(args.data)
    print(f"smartcompute detect, end to end: {seconds:.2f} s, {points / seconds:,.0f} points/s")
    print(
        f"machine speed: a fixed Python loop took {before:.2f} s before and {procs.python_loop_seconds():.2f} s after"
    )
    result, state = sizes()
    print(
        f"result of 10 metrics x 10,000 points: {result / 1e6:.2f} MB; one metric's saved state: {state / 1e3:.0f} kB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
