"""Time-series building blocks shared by the metric detectors: baselines, runs and surges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DAY = 86400.0
# A rolling median over three hours follows a daily pattern but ignores a burst shorter than ~90 min.
BASELINE_WINDOW_SECONDS = 3 * 3600.0
_MAD_TO_SIGMA = 1.4826
_CHUNK_ROWS = 8192  # bounds the memory of the sliding-window median on long series


@dataclass(frozen=True)
class Run:
    """Inclusive sample indices [first, last] of a stretch where a condition held."""

    first: int
    last: int


@dataclass(frozen=True)
class Surge:
    run: Run
    start: float
    end: float
    duration_seconds: float
    peak: float
    peak_at: float
    mean: float
    baseline: float

    @property
    def ratio(self) -> float:
        return self.peak / self.baseline if self.baseline > 0 else float("inf")


def sample_interval(timestamps: np.ndarray) -> float:
    """The typical spacing of samples; one minute when a single point leaves nothing to measure."""
    if timestamps.shape[0] < 2:
        return 60.0
    return float(np.median(np.diff(timestamps)))


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    count = values.shape[0]
    half = window // 2
    if count == 0:
        return values.copy()
    if count <= window or half == 0:
        return np.full(count, float(np.median(values)))
    # Reflection (not edge repetition) keeps a burst at either end from becoming its own baseline.
    padded = np.pad(values, half, mode="reflect")
    smoothed = np.empty(count)
    for first in range(0, count, _CHUNK_ROWS):
        last = min(first + _CHUNK_ROWS, count)
        windows = sliding_window_view(padded[first : last + 2 * half], window)
        smoothed[first:last] = np.median(windows, axis=1)
    return smoothed


def robust_sigma(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return _MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))


def true_runs(mask: np.ndarray, timestamps: np.ndarray, max_gap_seconds: float) -> list[Run]:
    """Stretches where mask holds; a gap in the timestamps longer than max_gap_seconds ends a run."""
    if mask.size == 0:
        return []
    breaks = np.zeros(mask.shape[0], dtype=bool)
    breaks[1:] = np.diff(timestamps) > max_gap_seconds
    edges = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    runs: list[Run] = []
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        cuts = first + np.flatnonzero(breaks[first + 1 : last + 1]) + 1
        bounds = [first, *cuts.tolist(), last + 1]
        runs.extend(Run(a, b - 1) for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    return runs


def merge_runs(runs: list[Run], timestamps: np.ndarray, max_gap_seconds: float) -> list[Run]:
    """Joins runs separated by a brief dip, so one event is not reported as several."""
    merged: list[Run] = []
    for run in runs:
        if merged and timestamps[run.first] - timestamps[merged[-1].last] <= max_gap_seconds:
            merged[-1] = Run(merged[-1].first, run.last)
        else:
            merged.append(run)
    return merged


def run_duration(run: Run, timestamps: np.ndarray, interval: float) -> float:
    """Each sample stands for one sampling interval, so a single sample lasts one interval."""
    return float(timestamps[run.last] - timestamps[run.first] + interval)


def find_surges(
    timestamps: np.ndarray, values: np.ndarray, *, min_ratio: float, min_sigmas: float, min_duration_seconds: float
) -> list[Surge]:
    """Stretches far above the local baseline: at least min_ratio times it and min_sigmas above it."""
    interval = sample_interval(timestamps)
    window = int(np.clip(round(BASELINE_WINDOW_SECONDS / interval), 5, 721)) | 1
    baseline = rolling_median(values, window)
    typical = float(np.median(values)) if values.size else 0.0
    sigma = max(robust_sigma(values - baseline), 0.05 * typical)
    floor = np.maximum(baseline, 0.1 * typical)
    mask = (values > 0) & (values >= min_ratio * floor) & (values - baseline >= min_sigmas * sigma)
    runs = merge_runs(true_runs(mask, timestamps, 2.5 * interval), timestamps, 2.5 * interval)
    surges = []
    for run in runs:
        duration = run_duration(run, timestamps, interval)
        if duration < min_duration_seconds:
            continue
        span = slice(run.first, run.last + 1)
        peak_index = run.first + int(np.argmax(values[span]))
        surges.append(
            Surge(
                run,
                float(timestamps[run.first]),
                float(timestamps[run.last]),
                duration,
                float(values[peak_index]),
                float(timestamps[peak_index]),
                float(np.mean(values[span])),
                float(np.median(floor[span])),
            )
        )
    return surges


def daily_recurrences(
    timestamps: np.ndarray,
    values: np.ndarray,
    start: float,
    end: float,
    level: float,
    tolerance_seconds: float = 3600.0,
) -> list[int]:
    """Day offsets (e.g. -1, +2) on which the series also reached `level` at the same time of day."""
    if timestamps.size == 0:
        return []
    days_before = int((start - timestamps[0]) // DAY) + 1
    days_after = int((timestamps[-1] - end) // DAY) + 1
    offsets = []
    for offset in [*range(-days_before, 0), *range(1, days_after + 1)]:
        low = np.searchsorted(timestamps, start + offset * DAY - tolerance_seconds, side="left")
        high = np.searchsorted(timestamps, end + offset * DAY + tolerance_seconds, side="right")
        if high > low and float(np.max(values[low:high])) >= level:
            offsets.append(offset)
    return offsets
