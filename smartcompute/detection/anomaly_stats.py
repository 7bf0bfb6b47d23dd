"""Vectorised, causal building blocks of the anomaly detector.

Every function here looks only backwards: the value for index i uses entries at
or before i (`trailing_*` windows end just before i), so the detector stays
streaming while numpy does the per-point work.
"""
from __future__ import annotations

import numpy as np

_LN10 = np.log(10.0)


def trailing_mean_std(values: np.ndarray, window: int, first: int,
                      valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and count of the up-to-`window` entries before each index >= `first`.

    With `valid` (a boolean mask), only the valid entries among those `window`
    count; the count returned is theirs. Sums are taken on values centred and
    rescaled by a power of two (an exact operation), so huge magnitudes neither
    overflow when squared nor lose the window's variance to cancellation.
    """
    weight = np.ones(values.size) if valid is None else valid.astype(float)
    reference = values[int(np.argmax(weight))] if weight.any() else 0.0
    centred = (values - reference) * weight
    spread = float(np.max(np.abs(centred))) if values.size else 0.0
    scale = 2.0 ** np.ceil(np.log2(spread)) if spread > 0 else 1.0
    unit = centred / scale
    sums = np.concatenate([[0.0], np.cumsum(unit)])
    squares = np.concatenate([[0.0], np.cumsum(unit * unit)])
    counts = np.concatenate([[0.0], np.cumsum(weight)])
    index = np.arange(first, values.size)
    start = np.maximum(0, index - window)
    count = counts[index] - counts[start]
    per = np.maximum(count, 1)
    mean = (sums[index] - sums[start]) / per
    variance = np.maximum((squares[index] - squares[start]) / per - mean * mean, 0.0)
    return mean * scale + reference, np.sqrt(variance) * scale, count.astype(int)


def seasonal_residual(values: np.ndarray, period: int, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Each value minus the closest of the values 1..`periods` periods earlier, and where one exists.

    Comparing with the closest of several earlier periods means a one-off event
    is not echoed a period later (the other period still matches), while a
    change to the usual daily shape differs from every earlier day.
    """
    residual = np.full(values.size, np.inf)
    for k in range(1, periods + 1):
        lag = k * period
        if values.size <= lag:
            break
        candidate = np.full(values.size, np.inf)
        candidate[lag:] = values[lag:] - values[:-lag]
        residual = np.where(np.abs(candidate) < np.abs(residual), candidate, residual)
    valid = np.isfinite(residual)
    return np.where(valid, residual, 0.0), valid


def trailing_mean_inclusive(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Mean of the up-to-`window` entries ending at (and including) each index >= `first`."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(first, values.size) + 1
    start = np.maximum(0, end - window)
    return (sums[end] - sums[start]) / (end - start)


def trailing_max(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Maximum of the up-to-`window` entries before each index >= `first` (-inf where there are none)."""
    padded = np.concatenate([np.full(window, -np.inf), values])
    # Row i of the view holds padded[first + i : first + i + window], i.e. values[first + i - window : first + i].
    return np.lib.stride_tricks.sliding_window_view(padded[first:-1], window).max(axis=1) \
        if values.size > first else np.empty(0)


def trailing_extremes(values: np.ndarray, window: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max, min and count of the up-to-`window` entries before each index >= `first`.

    O(n) for any window (van Herk / Gil-Werman): the padded series is cut into
    blocks of `window` entries, and a window's extreme is the larger of the
    running extreme from its start to its block's end and the running extreme
    from the next block's start to its end. Where there are no entries the max
    is -inf and the min +inf.
    """
    index = np.arange(first, values.size)
    count = np.minimum(index, window)
    if index.size == 0:
        return np.empty(0), np.empty(0), count
    return (_window_max(values, window, first), -_window_max(-values, window, first), count)


def _window_max(values: np.ndarray, window: int, first: int) -> np.ndarray:
    padded = np.concatenate([np.full(window, -np.inf), values])
    # Window for index i (i >= first) is padded[i : i + window].
    blocks = -(-padded.size // window)
    full = np.full(blocks * window, -np.inf)
    full[:padded.size] = padded
    grid = full.reshape(blocks, window)
    ahead = np.maximum.accumulate(grid, axis=1).ravel()  # block start .. k
    behind = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()  # k .. block end
    start = np.arange(first, values.size)
    return np.maximum(behind[start], ahead[start + window - 1])


def gaussian_tail_log10(z: np.ndarray) -> np.ndarray:
    """-log10 of the upper Gaussian tail probability Q(z), accurate far into the tail.

    Uses the Abramowitz & Stegun 7.1.26 form of erfc (relative error < 1e-6 in
    the tail we care about), kept in log space so that z = 40 is still finite.
    """
    z = np.asarray(z, dtype=float)
    a = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    log_erfc = np.log(poly) - a * a
    upper = np.log(0.5) + log_erfc
    lower = np.log1p(-0.5 * np.exp(log_erfc))
    return -np.where(z >= 0, upper, lower) / _LN10


def seasonal_peak(values: np.ndarray, period: int, periods: int, tolerance: int, first: int) -> np.ndarray:
    """For each index i >= `first`, the largest entry within `tolerance` of i - k·`period`, any k in 1..`periods`.

    It is 0 where no such entry exists yet (the stream's first period), so the
    values must be non-negative. Causal as long as `tolerance` < `period`.
    """
    index = np.arange(first, values.size)
    peak = np.zeros(index.size)
    # before[j] is the max of values[j - span .. j - 1] (clipped at the start).
    before = _window_max(np.append(values, 0.0), 2 * tolerance + 1, 0)
    for k in range(1, periods + 1):
        end = index - k * period + tolerance  # last entry of the span, inclusive
        usable = end >= 0
        peak[usable] = np.maximum(peak[usable], before[end[usable] + 1])
    return np.maximum(peak, 0.0)
