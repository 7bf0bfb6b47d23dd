"""What a metric usually does at this time of day or week, learned from the timestamps.

A profile splits the period (a day or a week) into bins of fixed length and keeps, for each of the last
CYCLES periods, the mean of the values that fell in each bin. The binning is by time, not by sample
count, so any sampling interval works (10 s to an hour) and a host whose interval changes keeps its
profile; bins that no sample reached stay empty, and gaps cost nothing.

A value is judged against the closest of the same time in each earlier period (within its bin's
neighbours, or one sampling interval when samples are sparser than bins): an event seen at this time on
one of the last CYCLES days is expected (a nightly backup), a one-off event yesterday is not echoed today
(the other days still match), and a value that is wrong for its time differs from all of them.

Whether a period matters is decided from the profile itself: the same time one period earlier must
predict a value much better than a random time of that earlier period does (see `agreement`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcompute.detection.parameters import SEASON_TOLERANCE

DAY = 86_400.0
WEEK = 7 * DAY
CYCLES = 3  # earlier periods kept per profile
MIN_PAIRED_FRACTION = 0.25  # of a period's bins, paired with the period before, before agreement is judged


@dataclass(frozen=True)
class Period:
    name: str
    seconds: float
    bins: int

    @property
    def bin_seconds(self) -> float:
        return self.seconds / self.bins


DAILY = Period("daily", DAY, 288)  # 5-minute bins
WEEKLY = Period("weekly", WEEK, 336)  # 30-minute bins


class SeasonProfile:
    """Per-bin means of the last CYCLES periods of one metric."""

    def __init__(self, period: Period):
        self.period = period
        self.sums = np.zeros((CYCLES, period.bins))
        self.counts = np.zeros((CYCLES, period.bins))
        self.cycle = np.full((CYCLES, period.bins), -1, dtype=np.int64)  # which period each slot holds

    def learn(self, times: np.ndarray, values: np.ndarray) -> None:
        """Add samples; a slot holding an older period is cleared first, one holding a newer one is kept."""
        if times.size == 0:
            return
        absolute = np.floor(times / self.period.bin_seconds).astype(np.int64)
        cycle, position = np.divmod(absolute, self.period.bins)
        slot = cycle % CYCLES
        flat = slot * self.period.bins + position
        newest = np.full(self.cycle.size, -1, dtype=np.int64)
        np.maximum.at(newest, flat, cycle)
        held = self.cycle.ravel()
        renewed = newest > held
        for array in (self.sums, self.counts):
            array.ravel()[renewed] = 0.0
        held[renewed] = newest[renewed]
        current = cycle == held[flat]
        np.add.at(self.sums.ravel(), flat[current], values[current])
        np.add.at(self.counts.ravel(), flat[current], 1.0)

    def expected(self, times: np.ndarray, values: np.ndarray, step: float) -> np.ndarray:
        """For each sample, the closest of the bin means at its time in earlier periods (NaN where none)."""
        reach = self._reach(step)
        absolute = np.floor(times / self.period.bin_seconds).astype(np.int64)
        if times.size == 0 or not self._holds_a_period_before(int(absolute.max()) + reach):
            return np.full(times.size, np.nan)  # a metric's first period: nothing earlier to look up
        offsets = np.array([-k * self.period.bins + j for k in range(1, CYCLES + 1) for j in range(-reach, reach + 1)])
        candidates = absolute[:, None] + offsets[None, :]
        cycle, position = np.divmod(candidates, self.period.bins)
        slot = cycle % CYCLES
        held = self.cycle[slot, position] == cycle
        counts = self.counts[slot, position]
        usable = held & (counts > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(usable, self.sums[slot, position] / counts, np.nan)
        distance = np.where(usable, np.abs(means - values[:, None]), np.inf)
        best = np.argmin(distance, axis=1)
        return means[np.arange(times.size), best]

    def _holds_a_period_before(self, last_bin: int) -> bool:
        """Whether any slot holds a period earlier than the one `last_bin` (an absolute bin) falls in."""
        held = self.cycle[self.cycle >= 0]
        return held.size > 0 and int(held.min()) < last_bin // self.period.bins

    def _reach(self, step: float) -> int:
        """Neighbouring bins a lookup spans: the tolerance, and at least one sampling interval."""
        return max(1, int(np.ceil(max(step, SEASON_TOLERANCE) / self.period.bin_seconds)))

    def agreement(self, step: float, placebo_shifts: tuple[float, ...] = (1 / 3, 2 / 3)) -> float:
        """How much better the same time one period earlier predicts each bin than other times of it do:
        the root-mean-square distance from each bin to the closest bin within the tolerance one period back,
        over the same at times shifted by `placebo_shifts` of a period (the same number of candidates, so
        noise scores 1). Of the pairs of consecutive periods kept, the one that agrees best counts, so one
        unusual day does not make the rhythm forgotten. Small means the period matters; NaN until a pair has
        enough bins."""
        reach = self._reach(step)
        ratios = []
        for latest, earlier in self._consecutive_periods():
            distances = [
                self._closest_distances(latest, earlier, int(round(shift * self.period.bins)), reach)
                for shift in (0.0, *placebo_shifts)
            ]
            usable = np.all(np.isfinite(distances), axis=0)
            if usable.sum() < MIN_PAIRED_FRACTION * self.period.bins:
                continue
            same_time = np.mean(distances[0][usable] ** 2)
            other_time = np.mean([np.mean(d[usable] ** 2) for d in distances[1:]])
            if other_time > 0:
                ratios.append(np.sqrt(same_time / other_time))
        return float(min(ratios)) if ratios else np.nan

    def _closest_distances(self, latest, earlier, shift: int, reach: int) -> np.ndarray:
        """For each bin of `latest`, the distance to the closest of `earlier`'s bins within `reach` of it after
        shifting by `shift` bins (inf where there is none)."""
        bins = self.period.bins
        index = (np.arange(bins)[None, :] + shift + np.arange(-reach, reach + 1)[:, None]) % bins
        distance = np.abs(earlier[index] - latest[None, :])
        return np.where(np.isfinite(distance), distance, np.inf).min(axis=0)

    def _consecutive_periods(self):
        """(bin means of a period, bin means of the period before it) for each such pair kept."""
        filled = self.cycle[self.counts > 0]
        if filled.size == 0:
            return
        newest = int(filled.max())
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self.counts > 0, self.sums / self.counts, np.nan)

        def period(cycle: int) -> np.ndarray:
            slot = cycle % CYCLES
            return np.where(self.cycle[slot] == cycle, means[slot], np.nan)

        for cycle in range(newest, newest - CYCLES + 1, -1):
            yield period(cycle), period(cycle - 1)

    def snapshot(self) -> dict:
        return {"sums": self.sums.tolist(), "counts": self.counts.tolist(), "cycle": self.cycle.tolist()}

    @classmethod
    def from_snapshot(cls, period: Period, data: dict) -> SeasonProfile:
        profile = cls(period)
        shape = (CYCLES, period.bins)
        profile.sums = _array(data["sums"], shape, float)
        profile.counts = _array(data["counts"], shape, float)
        profile.cycle = _array(data["cycle"], shape, np.int64)
        return profile


def _array(values, shape, dtype) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f"expected a {shape[0]}x{shape[1]} array of finite numbers")
    return array
