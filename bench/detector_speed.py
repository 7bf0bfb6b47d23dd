"""Points per second of the streaming anomaly detector on one core, and its peak memory.

Usage: python bench/detector_speed.py [--data PATH] [--repeat N]
Scores every NAB series (fresh detector per file) N times; then one job's worth of
host metrics (1,000 points each, fresh detectors), scored together as the
anomaly_detection job does; then one long synthetic series in 1,000-point chunks
to show memory stays bounded.
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nab_eval  # noqa: E402
from smartcompute.detection.anomaly import AnomalyDetector, score_together  # noqa: E402


def corpus_points_per_second(series: list[np.ndarray], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for values in series:
            AnomalyDetector().score(values)
    return repeat * sum(len(values) for values in series) / (time.perf_counter() - start)


def host_metrics_per_second(metrics: int, points: int, seconds: float = 1.0) -> float:
    """Per-metric 1,000-point series of one host, scored together, as in one anomaly_detection job."""
    series = list(50 + np.random.default_rng(1).normal(0, 1, (metrics, points)))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        score_together([AnomalyDetector() for _ in range(metrics)], series)
        done += 1
    return done * metrics * points / (time.perf_counter() - start)


def peak_memory_mib(points: int, chunk: int) -> float:
    values = 50 + np.random.default_rng(0).normal(0, 1, points)
    detector = AnomalyDetector()
    tracemalloc.start()
    for start in range(0, points, chunk):
        detector.score(values[start:start + chunk])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab_eval.default_data_path())
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    series = [values for _, _, values, _ in nab_eval.load_corpus(args.data)]
    print(f"NAB corpus: {sum(map(len, series)):,} points in {len(series)} files")
    print(f"throughput: {corpus_points_per_second(series, args.repeat):,.0f} points/s (one core)")
    for metrics in (1, 2, 8):
        print(f"one job of {metrics} metric(s) x 1,000 points: {host_metrics_per_second(metrics, 1000):,.0f} points/s")
    for points in (100_000, 1_000_000):
        print(f"peak traced memory scoring {points:,} points in 1,000-point chunks: "
              f"{peak_memory_mib(points, 1000):.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
