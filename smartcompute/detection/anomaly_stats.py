"""Vectorised, causal building blocks of the anomaly detector.

Every function here looks only backwards: the value for index i uses entries at
or before i (`trailing_*` windows end just before i), so the detector stays
streaming while numpy does the per-point work.

Series run along the last axis: a 2-D array is several series of one length,
each row computed exactly as it would be alone (the same operations in the
same order, so the same bits), in one numpy call instead of one per series.
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
    Without `valid`, the count is the same for every series (one row).
    """
    if valid is None:  # every entry counts: no masking, and the counts are the windows' lengths
        reference = values[..., :1] if values.shape[-1] else np.zeros(values.shape[:-1] + (1,))
        centred = values - reference
        count = _window_totals(np.arange(values.shape[-1] + 1), first, window)
    else:
        weight = valid.astype(float)
        counted = np.argmax(weight, axis=-1)[..., np.newaxis]
        reference = np.where(weight.any(axis=-1, keepdims=True), np.take_along_axis(values, counted, -1), 0.0)
        centred = (values - reference) * weight
        count = _window_totals(_prefix_sums(weight), first, window).astype(int)
    scale = _power_of_two_scale(centred)
    unit = centred / scale
    per = np.maximum(count, 1)
    mean = _window_totals(_prefix_sums(unit), first, window) / per
    variance = np.maximum(_window_totals(_prefix_sums(unit * unit), first, window) / per - mean * mean, 0.0)
    return mean * scale + reference, np.sqrt(variance) * scale, count


def _power_of_two_scale(centred: np.ndarray) -> np.ndarray:
    """Per series, the power of two at or above its largest magnitude (1 for an all-zero or empty series)."""
    if not centred.shape[-1]:
        return np.ones(centred.shape[:-1] + (1,))
    spread = np.max(np.abs(centred), axis=-1, keepdims=True)
    positive = spread > 0
    return np.where(positive, 2.0 ** np.ceil(np.log2(np.where(positive, spread, 1.0))), 1.0)


def _prefix_sums(values: np.ndarray) -> np.ndarray:
    """0 followed by the running sums: entry k is the sum of the first k values."""
    sums = np.empty(values.shape[:-1] + (values.shape[-1] + 1,))
    sums[..., 0] = 0
    np.cumsum(values, axis=-1, out=sums[..., 1:])
    return sums


def _window_totals(prefix: np.ndarray, first: int, window: int, end: int | None = None) -> np.ndarray:
    """From prefix sums, the total of the up-to-`window` entries before each index in [`first`, `end`).

    prefix[i] - prefix[max(i - window, 0)], with slices instead of gathers: the start stays 0
    until the window is full, then moves with the index. `end` defaults to the last entry's index.
    """
    end = prefix.shape[-1] - 1 if end is None else end
    totals = prefix[..., first:end].copy()
    full_from = max(first, window)  # first index whose window no longer starts at entry 0
    if full_from < end:
        totals[..., full_from - first:] -= prefix[..., full_from - window:end - window]
    return totals


def seasonal_residual(values: np.ndarray, period: int, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Each value minus the closest of the values 1..`periods` periods earlier, and where one exists.

    Comparing with the closest of several earlier periods means a one-off event
    is not echoed a period later (the other period still matches), while a
    change to the usual daily shape differs from every earlier day.
    """
    residual = np.full(values.shape, np.inf)
    for k in range(1, periods + 1):
        lag = k * period
        if values.shape[-1] <= lag:
            break
        candidate = np.full(values.shape, np.inf)
        candidate[..., lag:] = values[..., lag:] - values[..., :-lag]
        residual = np.where(np.abs(candidate) < np.abs(residual), candidate, residual)
    valid = np.isfinite(residual)
    return np.where(valid, residual, 0.0), valid


def trailing_mean_inclusive(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Mean of the up-to-`window` entries ending at (and including) each index >= `first`."""
    size = values.shape[-1]
    # The window ending at i is the one before i + 1.
    totals = _window_totals(_prefix_sums(values), first + 1, window, end=size + 1)
    return totals / np.minimum(np.arange(first, size) + 1, window)


def trailing_max(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Maximum of the up-to-`window` entries before each index >= `first` (-inf where there are none).

    O(n) for any window (van Herk / Gil-Werman): the padded series is cut into
    blocks of `window` entries, and a window's maximum is the larger of the
    running maximum from its start to its block's end and the running maximum
    from the next block's start to its end.
    """
    size, rows = values.shape[-1], values.shape[:-1]
    if size == 0:
        return np.empty(values.shape)
    if size <= window + 1:
        # No window has dropped an entry yet: each is all the values before it, a running maximum.
        running = np.empty(values.shape)
        running[..., 0] = -np.inf
        np.maximum.accumulate(values[..., :-1], axis=-1, out=running[..., 1:])
        return running[..., first:]
    padded = np.concatenate([np.full(rows + (window,), -np.inf), values], axis=-1)
    # Window for index i (i >= first) is padded[i : i + window].
    blocks = -(-padded.shape[-1] // window)
    full = np.full(rows + (blocks * window,), -np.inf)
    full[..., :padded.shape[-1]] = padded
    grid = full.reshape(rows + (blocks, window))
    ahead = np.maximum.accumulate(grid, axis=-1).reshape(rows + (-1,))  # block start .. k
    behind = np.maximum.accumulate(grid[..., ::-1], axis=-1)[..., ::-1].reshape(rows + (-1,))  # k .. block end
    return np.maximum(behind[..., first:size], ahead[..., first + window - 1:size + window - 1])


def trailing_extremes(values: np.ndarray, window: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max, min and count of the up-to-`window` entries before each index >= `first`.

    Where there are no entries the max is -inf and the min +inf.
    """
    index = np.arange(first, values.shape[-1])
    count = np.minimum(index, window)
    if index.size == 0:
        return np.empty(values.shape[:-1] + (0,)), np.empty(values.shape[:-1] + (0,)), count
    return (trailing_max(values, window, first), -trailing_max(-values, window, first), count)


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
    index = np.arange(first, values.shape[-1])
    peak = np.zeros(values.shape[:-1] + (index.size,))
    # before[j] is the max of values[j - span .. j - 1] (clipped at the start).
    before = trailing_max(np.concatenate([values, np.zeros(values.shape[:-1] + (1,))], axis=-1), 2 * tolerance + 1, 0)
    for k in range(1, periods + 1):
        lag = k * period - tolerance  # index i's span ends (inclusive) at entry i - lag
        usable = max(first, lag) - first  # the first index whose span has an entry; all later ones do too
        if usable < index.size:
            span_ends = before[..., first + usable - lag + 1:values.shape[-1] - lag + 1]
            peak[..., usable:] = np.maximum(peak[..., usable:], span_ends)
    return np.maximum(peak, 0.0)
