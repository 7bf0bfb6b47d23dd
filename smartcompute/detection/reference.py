"""A metric's normal behaviour, summarised from its clean recent history: what each new sample is judged against.

Two residual channels look at every sample:

- the slow channel: the sample minus what is usual (the history's median, or, when the metric has a daily or
  weekly rhythm, the closest of the same time in earlier periods), which sees level shifts, drifts, values
  wrong for their time of day, and anything beyond the metric's range;
- the fast channel: the slow residual minus the median of the three before it, which sees abrupt changes
  on a series that wanders (a temperature, a price) where the slow residual is wide.

Each channel has an upper and a lower tail (`tails.py`) fitted on the history's residuals. A run of
identical values is judged by how often the history repeats a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcompute.detection.parameters import ACTIVITY_CAP, MIN_HISTORY, SEASON_AGREEMENT, SEASON_COVERAGE
from smartcompute.detection.season import DAILY, WEEKLY, SeasonProfile
from smartcompute.detection.tails import Tail, fit_sorted, fit_tail, quantiles

BAND_QUANTILES = (0.01, 0.99)  # the normal band reported with an incident
RELATIVE_FLOOR = 1e-3  # a flat series' spread is taken as 0.1% of its level
ABSOLUTE_FLOOR = 1e-9
ACTIVITY_FLOOR = 0.05  # the activity tail's least scale, in units of surprise
ACTIVITY_MIN_BLOCKS = 10  # averages of disjoint spans the activity tail needs before it judges anything


def median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def fast_residuals(slow: np.ndarray) -> np.ndarray:
    """Each slow residual minus the median of the three before it, where it moves away from what is usual
    (0 where it moves back: the end of a burst is no news); NaN for the first three, which have no past."""
    fast = np.full(slow.shape, np.nan)
    if slow.size > 3:
        before = median3(slow[:-3], slow[1:-2], slow[2:-1])
        current = slow[3:]
        away = np.abs(current) >= np.abs(before)
        crossed = np.sign(current) != np.sign(before)
        fast[3:] = np.where(away, np.where(crossed, current, current - before), 0.0)
    return fast


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the `window` values ending at each index: NaN until there are that many, and where the window
    holds a NaN (a running sum would carry one NaN to every later index)."""
    means = np.full(values.shape, np.nan)
    if values.size >= window:
        known = np.isfinite(values)
        sums = np.cumsum(np.concatenate([[0.0], np.where(known, values, 0.0)]))
        unknown = np.cumsum(np.concatenate([[0], ~known]))
        complete = unknown[window:] == unknown[:-window]
        means[window - 1 :] = np.where(complete, (sums[window:] - sums[:-window]) / window, np.nan)
    return means


@dataclass(frozen=True)
class ChannelTails:
    up: Tail
    down: Tail

    def surprise(self, residuals: np.ndarray) -> np.ndarray:
        return np.maximum(self.up.surprise(residuals), self.down.surprise(-residuals))


def channel_tails(residuals: np.ndarray, scale_floor: float) -> ChannelTails | None:
    """Both tails of a channel's residuals, from one sort."""
    ordered = np.sort(residuals[np.isfinite(residuals)])
    if ordered.size < MIN_HISTORY:
        return None
    return ChannelTails(fit_sorted(ordered, scale_floor), fit_sorted(-ordered[::-1], scale_floor))


@dataclass(frozen=True)
class Reference:
    """Everything a segment of new samples is judged against; fixed until the next refresh."""

    center: float  # median of the clean history
    low: float  # the normal band (BAND_QUANTILES of the clean history)
    high: float
    season: str | None  # "daily", "weekly" or None
    slow: ChannelTails  # plain residuals (value - center)
    fast: ChannelTails
    seasonal_scale: float | None  # seasonal residuals are relative to |expected| + this (None without a season)
    seasonal_slow: ChannelTails | None  # residuals against the season, when it is used
    seasonal_fast: ChannelTails | None
    level: ChannelTails | None  # plain residuals averaged over level_samples (once there are enough)
    seasonal_level: ChannelTails | None
    level_samples: int
    activity: Tail | None  # upper tail of the history's average surprise over activity_samples (once known)
    activity_samples: int
    repeat_rate: float  # share of consecutive clean samples that repeat a value
    longest_run: int  # longest run of one repeated value in the clean history
    points: int

    def seasonal_residuals(self, values: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Values against what the season expected of them, on this reference's scale."""
        assert self.seasonal_scale is not None, "the reference follows no season"
        return seasonal_residuals(values, expected, self.seasonal_scale)

    def describe(self) -> dict:
        """What an incident reports it was judged against."""
        return {
            "median": self.center,
            "band": [self.low, self.high],
            "season": self.season,
            "history_points": self.points,
        }


def seasonal_residuals(values: np.ndarray, expected: np.ndarray, scale: float) -> np.ndarray:
    """Residuals relative to the expected value's magnitude plus `scale`, the metric's typical magnitude: at a
    time when the metric is ten times busier (a nightly backup) its swings are about ten times larger, and where
    its level hardly moves over the period these are its absolute residuals in other units. (Choosing between
    this and absolute residuals by the history's tails failed on the few busy samples that matter.)"""
    return (values - expected) / (np.abs(expected) + scale)


def typical_magnitude(values: np.ndarray, expected: np.ndarray) -> float:
    """The mean magnitude of the values the season had an expectation for: the scale of seasonal residuals."""
    known = np.isfinite(expected)
    return float(np.mean(np.abs(values[known] if known.any() else values))) + ABSOLUTE_FLOOR


def build_reference(
    values: np.ndarray,
    seasonal: dict[str, np.ndarray],
    season: str | None,
    surprises: np.ndarray,
    activity_samples: int,
    level_samples: int,
) -> Reference | None:
    """The reference from a clean history (`values`, oldest first) and its seasonal residuals by period."""
    if values.size < MIN_HISTORY:
        return None
    low, center, high = quantiles(values, (BAND_QUANTILES[0], 0.5, BAND_QUANTILES[1]))
    floor = RELATIVE_FLOOR * max(abs(center), abs(low), abs(high)) + ABSOLUTE_FLOOR
    plain = values - center
    seasonal_slow = seasonal_fast = seasonal_level = seasonal_scale = None
    if season is not None:
        seasonal_scale = typical_magnitude(values, seasonal[season])
        residuals = seasonal_residuals(values, seasonal[season], seasonal_scale)
        seasonal_floor = floor / seasonal_scale  # in the residuals' units
        seasonal_slow = channel_tails(residuals, seasonal_floor)
        seasonal_fast = channel_tails(fast_residuals(residuals), seasonal_floor)
        seasonal_level = channel_tails(trailing_mean(residuals, level_samples), seasonal_floor)
        if seasonal_slow is None or seasonal_fast is None:
            season, seasonal_slow, seasonal_fast, seasonal_level = None, None, None, None
    slow, fast = channel_tails(plain, floor), channel_tails(fast_residuals(plain), floor)
    level = channel_tails(trailing_mean(plain, level_samples), floor)
    if slow is None or fast is None:
        return None
    repeats = values[1:] == values[:-1]
    # Averages over disjoint blocks: overlapping windows would look like far more evidence than they are.
    blocks = surprises.size // activity_samples
    capped = np.minimum(surprises[surprises.size - blocks * activity_samples :], ACTIVITY_CAP)
    averages = capped.reshape(blocks, activity_samples).mean(axis=1)
    averages = averages[np.isfinite(averages)]  # blocks holding an unjudged sample say nothing
    activity = fit_tail(averages, ACTIVITY_FLOOR) if averages.size >= ACTIVITY_MIN_BLOCKS else None
    return Reference(
        center=center,
        low=low,
        high=high,
        season=season,
        slow=slow,
        fast=fast,
        activity=activity,
        activity_samples=activity_samples,
        seasonal_scale=seasonal_scale,
        seasonal_slow=seasonal_slow,
        seasonal_fast=seasonal_fast,
        level=level,
        seasonal_level=seasonal_level,
        level_samples=level_samples,
        repeat_rate=float((repeats.sum() + 1) / (repeats.size + 2)),
        longest_run=_longest_run(repeats),
        points=int(values.size),
    )


def choose_season(
    profiles: dict[str, SeasonProfile], step: float, current: str | None, covered: dict[str, float]
) -> str | None:
    """Weekly when a week back beats other days of that week; else daily when a day back beats other times of
    day; `current` while the profiles cannot tell yet. A period is used only once the clean history's residuals
    against it span most of it (`covered`, seconds), so their tails know what it holds (a nightly backup)."""
    for period, shifts in ((WEEKLY, tuple(k / 7 for k in range(1, 7))), (DAILY, (1 / 3, 2 / 3))):
        if covered.get(period.name, 0.0) < SEASON_COVERAGE * period.seconds:
            continue
        agreement = profiles[period.name].agreement(step, placebo_shifts=shifts)
        if np.isnan(agreement):
            return current
        if agreement < SEASON_AGREEMENT:
            return period.name
    return None


def find_season(times: np.ndarray, values: np.ndarray) -> str | None:
    """The period a whole series follows, by the detector's own test ("daily", "weekly" or None)."""
    profiles = {period.name: SeasonProfile(period) for period in (DAILY, WEEKLY)}
    for profile in profiles.values():
        profile.learn(times, values)
    gaps = np.diff(np.sort(times))
    step = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.0
    # Every period the data spans is covered: all of it is history here.
    span = float(times.max() - times.min()) if times.size else 0.0
    return choose_season(profiles, step, None, {name: span for name in profiles})


def _longest_run(repeats: np.ndarray) -> int:
    """Samples in the longest run of one value, given which consecutive pairs repeat."""
    if not repeats.any():
        return 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], repeats.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) + 1
