"""The surprises of one segment of a metric's samples against one reference, computed for all of them at once.

For each sample: the slow, fast and level channels' surprises (plain, or against the season where the metric
follows one and the season knows the time), the repeated-value run, and the activity (the recent average of
the samples' surprises). Their largest is the sample's `total`: where it reaches the onset threshold and no
incident is open, one opens.
"""

from __future__ import annotations

import numpy as np

from smartcompute.detection.parameters import (
    ACCEPT_AFTER,
    ACTIVITY_CAP,
    DRIFT_LEAD_SAMPLES,
    MEMBER_SURPRISE,
    NOISY_REPEAT_RATE,
    ZERO_FRACTION,
)
from smartcompute.detection.reference import Reference, fast_residuals, median3, trailing_mean


class Evidence:
    """Built from the stream's recent context (for the windows that reach back) and one segment's samples."""

    def __init__(self, stream, reference: Reference, times: np.ndarray, values: np.ndarray):
        self.stream, self.reference = stream, reference
        self.times, self.values, self.size = times, values, times.size
        context = stream.context_values.size
        all_times = np.concatenate([stream.context_times, times])
        all_values = np.concatenate([stream.context_values, values])
        slow, fast, level, self.season_used = self._channels(all_times, all_values, context)
        self.slow, self.fast, self.level = slow[context:], fast[context:], level[context:]
        # A sample is outside the band when it and the two before it mostly are: an incident goes on while its
        # level sits at the band's edge, not only while each sample clears it.
        self.settled = np.concatenate([slow[:2], median3(slow[:-2], slow[1:-1], slow[2:])])[context:]
        self.outside = self.settled >= MEMBER_SURPRISE
        self.point = np.maximum(self.slow, self.fast)
        self.run_length = run_lengths(all_values, stream.run_length, context)[context:]
        self.repeats = self.run_length > 1
        self.flat = self._flatline()
        self._judge_activity(np.minimum(self.point, ACTIVITY_CAP))

    def _judge_activity(self, contributions: np.ndarray) -> None:
        """The activity channel from each sample's contribution to it, and the totals that depend on it."""
        self.activity = self._activity(self.stream.recent_surprises, contributions)
        self.total = np.maximum.reduce([self.point, self.settled, self.flat, self.activity, self.level])
        # A record is a total above every one of the record span before it; a run of them is one excursion
        # rising, and only its first scores. `recent_totals` keeps one more than the span for the sample before.
        earlier = self.stream.recent_totals
        first = max(earlier.size - 1, 0)
        totals = np.concatenate([earlier, self.total])
        records = totals[first:] > trailing_max(totals, self.stream.record_samples(), first)
        if not earlier.size:  # nothing came before this segment, so nothing before its first sample scored
            records = np.concatenate([[False], records])
        self.record = records[1:] & ~records[:-1]

    def forget_incident(self, clean: np.ndarray, stop: int) -> None:
        """After an incident closes at `stop`, the samples it held leave the activity average of the samples
        after it, as they leave the stream's (an incident's samples are its own news, so its end opens no other)."""
        contributions = np.minimum(self.point, ACTIVITY_CAP)
        contributions[:stop][~clean[:stop]] = 0.0
        self._judge_activity(contributions)

    def _channels(self, times, values, context):
        """Slow, fast and level surprises of every sample (context included), and where the season judged."""
        reference, stream = self.reference, self.stream
        plain = values - reference.center
        slow = reference.slow.surprise(plain)
        fast = reference.fast.surprise(fast_residuals(plain))
        level = _judged(reference.level, trailing_mean(plain, reference.level_samples))
        self.seasonal_expected = {}
        season_used = np.zeros(times.size - context, bool)
        for name in stream.profiles:
            expected = stream.expected_by(name, times, values)
            self.seasonal_expected[name] = expected[context:]
            if name != reference.season:
                continue
            residual = reference.seasonal_residuals(values, expected)
            known = np.isfinite(residual)
            slow = np.where(known, reference.seasonal_slow.surprise(residual), slow)
            seasonal_fast = fast_residuals(residual)
            fast = np.where(np.isfinite(seasonal_fast), reference.seasonal_fast.surprise(seasonal_fast), fast)
            seasonal_level = trailing_mean(residual, reference.level_samples)
            level = np.where(np.isfinite(seasonal_level), _judged(reference.seasonal_level, seasonal_level), level)
            season_used = known[context:]
        return slow, fast, level, season_used

    def _flatline(self) -> np.ndarray:
        """On a noisy metric, a run of one value longer than any in its history is as surprising as that many
        repeats, each as likely as the history repeats a value or holds this one (a count of 3 comes round far
        more often than a count of 80, and may well come twice)."""
        reference = self.reference
        if reference.repeat_rate > NOISY_REPEAT_RATE:
            return np.zeros(self.size)
        longer = self.run_length > reference.longest_run
        if not longer.any():
            return np.zeros(self.size)
        ordered = reference.slow.up.ordered  # the history's values less its median, sorted
        residuals = self.values - reference.center
        held = np.searchsorted(ordered, residuals, side="right") - np.searchsorted(ordered, residuals, side="left")
        chance = np.maximum(reference.repeat_rate, held / ordered.size)
        return np.where(longer, (self.run_length - 1) * -np.log10(chance), 0.0)

    def _activity(self, recent: np.ndarray, contributions: np.ndarray) -> np.ndarray:
        if self.reference.activity is None:
            return np.zeros(self.size)
        samples = self.reference.activity_samples
        before = recent[len(recent) - (samples - 1) :] if samples > 1 else recent[:0]
        averages = trailing_mean_partial(np.concatenate([before, contributions]), samples)
        return self.reference.activity.surprise(averages[before.size :])

    def belongs(self, threshold: float) -> np.ndarray:
        """Which samples belong to an open incident: those that would open one themselves, and those outside the
        normal band with the two before them (a single noisy sample neither stretches nor ends it)."""
        return self.outside | (self.point >= threshold)

    def anomalous(self, threshold: float) -> np.ndarray:
        """Samples outside the normal band on their own, or that would open an incident: where an incident ends."""
        return (self.slow >= MEMBER_SURPRISE) | (self.point >= threshold) | self.repeats

    def outside_since_after(self, index: int) -> float | None:
        """When the run of outside-band samples that `index` ends began (None if it is inside the band)."""
        if not self.outside[index]:
            return None
        inside = np.flatnonzero(~self.outside[: index + 1])
        if inside.size:
            return float(self.times[inside[-1] + 1])
        return self.stream.outside_since if self.stream.outside_since is not None else float(self.times[0])

    def open_incident(self, index: int, threshold: float) -> dict:
        """A new incident whose onset is sample `index`: it starts where the excursion leading to it began."""
        value, reference = float(self.values[index]), self.reference
        since = self.outside_since_after(index)  # None exactly when the sample is inside the band
        start = since if since is not None else float(self.times[index])
        kind = self._kind(index, threshold, start)
        if kind == "flatline":  # it began with the first sample of the run
            start = self._run_start(index)
        return {
            "start": start,
            "detected_at": float(self.times[index]),
            "kind": kind,
            "direction": "up" if value >= reference.center else "down",
            "peak_surprise": float(self.total[index]),
            "peak_at": float(self.times[index]),
            "peak_value": value,
            "threshold": threshold,
            "review_at": float(self.times[index]) + ACCEPT_AFTER,
            "max_value": value,
            "min_value": value,
            "last_member": float(self.times[index]),
            "last_belonging": float(self.times[index]),
            "reference": reference.describe(),
        }

    def _run_start(self, index: int) -> float:
        """When the run of one value that sample `index` ends began (counted back in sampling intervals where it
        began before the samples at hand)."""
        first = index - int(self.run_length[index]) + 1
        if first >= 0:
            return float(self.times[first])
        return float(self.times[0]) + first * (self.stream.step or 0.0)

    def _kind(self, index: int, threshold: float, start: float) -> str:
        value, reference = float(self.values[index]), self.reference
        if self.flat[index] >= threshold and self.flat[index] >= self.point[index]:
            return "flatline"
        tolerance = ZERO_FRACTION * abs(reference.center)
        if abs(value) <= tolerance and reference.low > tolerance:
            return "dropout"
        slow_fired = max(self.slow[index], self.level[index]) >= threshold
        if slow_fired and self.season_used[index] and reference.low <= value <= reference.high:
            return "seasonal"  # an ordinary value, at the wrong time
        if slow_fired and start <= self.times[index] - DRIFT_LEAD_SAMPLES * (self.stream.step or 0.0):
            return "drift"  # it had been leaving the band for a while before it was clear
        return "spike"  # until it lasts longer than a spike does: then a level shift


def _judged(tails, residuals: np.ndarray) -> np.ndarray:
    """Surprises from a channel's tails, or none while the channel has too little history to have them."""
    return np.zeros(residuals.size) if tails is None else tails.surprise(residuals)


def trailing_mean_partial(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the up-to-`window` values ending at each index."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    index = np.arange(1, values.size + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)


def run_lengths(values: np.ndarray, carried: int, first: int) -> np.ndarray:
    """Samples in the run of one repeated value ending at each index; `carried` is the run's length at index
    `first - 1` as the stream knew it (a run can be longer than the context kept)."""
    size = values.size
    index = np.arange(size)
    repeats = np.zeros(size, bool)
    repeats[1:] = values[1:] == values[:-1]
    starts = np.maximum.accumulate(np.where(repeats, -1, index))
    runs = index - starts + 1
    if first > 0 and carried > 0:
        from_before = (starts == starts[first - 1]) & (index >= first - 1)
        runs = np.where(from_before, runs + (carried - runs[first - 1]), runs)
    return runs


def trailing_max(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Maximum of the up-to-`window` entries before each index >= `first` (-inf where there are none).

    O(n) for any window (van Herk / Gil-Werman): the padded series is cut into blocks of `window` entries,
    and a window's maximum is the larger of the running maximum from its start to its block's end and the
    running maximum from the next block's start to its end.
    """
    size = values.shape[-1]
    if size == 0:
        return np.empty(0)
    if size <= window + 1:  # no window has dropped an entry yet: a running maximum
        running = np.empty(size)
        running[0] = -np.inf
        np.maximum.accumulate(values[:-1], out=running[1:])
        return running[first:]
    padded = np.concatenate([np.full(window, -np.inf), values])
    blocks = -(-padded.size // window)
    full = np.full(blocks * window, -np.inf)
    full[: padded.size] = padded
    grid = full.reshape(blocks, window)
    ahead = np.maximum.accumulate(grid, axis=-1).ravel()
    behind = np.maximum.accumulate(grid[:, ::-1], axis=-1)[:, ::-1].ravel()
    return np.maximum(behind[first:size], ahead[first + window - 1 : size + window - 1])
