"""How surprising a residual is, judged by the residuals a metric showed before.

A residual's surprise is -log10 of its estimated chance of being exceeded: 3 means "1 in 1,000".

Up to a high quantile the chance is read off the history itself (a table of its quantiles, interpolated), so
a bimodal metric's second mode is as common as it really is. Beyond that quantile the excesses are modelled
as a generalised Pareto tail fitted by the method of moments (peaks over threshold, as in Siffer et al. 2017,
"Anomaly Detection in Streams with Extreme Value Theory"): a bursty series (request counts, tweets) gets a
heavy tail and a calm one (a temperature) a light one, so one threshold means the same rarity on both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcompute.detection.parameters import TAIL_FRACTION, TAIL_SHAPE_MARGIN

MIN_EXCEEDANCES = 5  # the tail's share of a short history is raised so it rests on at least this many ...
MAX_FRACTION = 0.25  # ... up to this share, beyond the upper quartile
MAX_SHAPE = 0.25  # the method of moments is reliable only below 1/4 (its own variance is infinite beyond)
PRIOR_WEIGHT = 2.0  # pseudo-excesses of the exponential that the body's spread implies, steadying small samples
MAX_SURPRISE = 1e6  # "never seen anything like it"; keeps sums and averages finite
_LN10 = np.log(10.0)


@dataclass(frozen=True)
class Tail:
    """One side of a residual distribution: the history itself up to `threshold`, a Pareto tail beyond it."""

    ordered: np.ndarray  # the history's residuals, sorted
    threshold: float
    beyond_share: float  # the share of the history above threshold
    scale: float
    shape: float  # 0 is exponential, larger is heavier

    @property
    def median(self) -> float:
        return float(self.ordered[self.ordered.size // 2])

    def surprise(self, residuals: np.ndarray) -> np.ndarray:
        """-log10 of each residual's estimated chance of being reached or exceeded (0 at or below the least;
        NaN residuals, which have no past to be judged by, are 0)."""
        size = self.ordered.size
        reached = (size - np.searchsorted(self.ordered, residuals, side="left")) / size
        beyond = residuals > self.threshold
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            surprise = -np.log10(reached)
            if beyond.any():
                excess = (residuals[beyond] - self.threshold) / self.scale
                tail = np.log1p(self.shape * excess) / (self.shape * _LN10) if self.shape > 0 else excess / _LN10
                surprise[beyond] = tail - np.log10(self.beyond_share)
        return np.where(np.isnan(residuals), 0.0, np.minimum(surprise, MAX_SURPRISE))


def quantiles(values: np.ndarray, probabilities) -> list[float]:
    """The order statistics nearest each probability, from one partial sort (np.quantile's interpolation
    between neighbours matters nothing here and costs several times as much)."""
    last = values.size - 1
    ranks = sorted({int(round(probability * last)) for probability in probabilities})
    ordered = np.partition(values, ranks)
    return [float(ordered[int(round(probability * last))]) for probability in probabilities]


def fit_tail(residuals: np.ndarray, scale_floor: float) -> Tail:
    """The upper side of `residuals` (pass the negated residuals for the lower one)."""
    return fit_sorted(np.sort(residuals), scale_floor)


def fit_sorted(ordered: np.ndarray, scale_floor: float) -> Tail:
    """The upper side of residuals already sorted. `scale_floor` bounds the tail's scale from below, so a series
    that has never moved is not infinitely surprised by its first small change."""
    size = ordered.size
    fraction = min(MAX_FRACTION, max(TAIL_FRACTION, MIN_EXCEEDANCES / size))
    threshold = ordered[min(size - 1, int(round((1.0 - fraction) * (size - 1))))]
    excess = ordered[np.searchsorted(ordered, threshold, side="right") :] - threshold
    # An exponential whose (1 - fraction) quantile lies `threshold - median` beyond its start has this mean.
    prior = max((threshold - ordered[size // 2]) / np.log(0.5 / fraction), scale_floor)
    count = excess.size + PRIOR_WEIGHT
    mean = (excess.sum() + PRIOR_WEIGHT * prior) / count
    # Method of moments for the generalised Pareto: an exponential's variance is its mean squared, a heavier
    # tail's is larger.
    variance = ((excess**2).sum() + PRIOR_WEIGHT * 2 * prior**2) / count - mean**2
    shape = min(max(0.5 * (1 - mean**2 / variance), 0.0), MAX_SHAPE) if variance > mean**2 else 0.0
    # A tail fitted on few excesses may be heavier than it looks: its shape is taken TAIL_SHAPE_MARGIN standard
    # errors above the estimate (about 1/sqrt(n) near the exponential), with the scale that keeps the mean.
    shape = min(shape + TAIL_SHAPE_MARGIN / np.sqrt(count), MAX_SHAPE)
    scale = mean * (1 - shape)
    return Tail(ordered, float(threshold), max(excess.size, 0.5) / size, float(max(scale, scale_floor)), float(shape))
