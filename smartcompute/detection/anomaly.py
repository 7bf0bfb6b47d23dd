"""The streaming anomaly detector: one parameter set for every series, learns online.

For each new point it asks "how unusual is this value, how unusual is this
step, and how unusual is its difference from the same time on the previous
days, against the last few thousand points?" (z-scores of the value, of its
first difference and of its seasonal residual against trailing windows),
turning the largest into a raw surprise in [0, 1]. The seasonal residual is
the difference from the closer of the values one and two days earlier (at
5-minute sampling), so a missing or reshaped daily pattern stands out while a
one-off event is not echoed a day later; on series without a daily rhythm it
is just another noisy difference, judged against its own history.

Single surprising points are common in real telemetry, so the reported score
is an anomaly likelihood in the spirit of Numenta's HTM:
the recent average surprise is compared with how that average has behaved over
a longer window, and its Gaussian tail probability is reported on a log scale
(0.5 = 1 in 100,000; 1.0 = 1 in 10^10). An incident is one finding, not
hundreds: after a score crosses the alarm level the next points are muted, and
a point keeps its score only if its likelihood is higher than every one of the
previous RECORD_WINDOW points, so an event whose likelihood rises, dips and
rises again reports its first peak and each further rise, never the same level
twice (whatever threshold a consumer picks, not only the alarm level).

Some series have an event at about the same time every day (a nightly job's
spike, drifting a few minutes). Such an event is expected: the likelihood
counts only where the recent surprise exceeds, by RECURRING_MARGIN, every
recent surprise within RECURRING_TOLERANCE points of the same time one and two
days earlier; an expected event is neither reported nor mutes what follows,
and it does not enter the record rule's history.

A value that leaves the range of the EXCURSION_WINDOW values before it (by
more than EXCURSION_MIN of that range) is also scored directly, by how far it
goes: after a busy stretch the likelihood's baseline is high, so a new extreme
(a spike above anything of the last week) would otherwise pass unnoticed.
Excursions are reported only after the learning period (constructor argument,
DEFAULT_LEARNING_PERIOD points; NAB hands a detector its probationary period),
and share the alarm muting with the likelihood.

Everything is causal, and the state is the trailing windows only, so a
snapshot (`snapshot()` / `AnomalyDetector.from_snapshot`) lets a later job
continue exactly where this one stopped.
"""
from __future__ import annotations

import numpy as np

from smartcompute.detection.anomaly_stats import (
    gaussian_tail_log10,
    seasonal_peak,
    seasonal_residual,
    trailing_extremes,
    trailing_mean_inclusive,
    trailing_max,
    trailing_mean_std,
)

SNAPSHOT_VERSION = 5
SNAPSHOT_KIND = "smartcompute.anomaly_detector"

VALUE_WINDOW = 3000  # points of history a value and a step are compared against
SEASON_POINTS = 288  # one day at 5-minute sampling
SEASONS_COMPARED = 2  # the seasonal residual is taken against the closer of 1 and 2 days back
SEASONAL_MIN_COUNT = 1000  # residuals needed in the window before the seasonal z-score counts
# Values kept between chunks: a step needs one earlier value, a residual two days more.
HISTORY_POINTS = VALUE_WINDOW + 1 + SEASONS_COMPARED * SEASON_POINTS
SURPRISE_FULL_AT_Z = 6.0  # a z-score this large is maximal raw surprise
SHORT_WINDOW = 10  # points averaged into the recent surprise
LIKELIHOOD_WINDOW = 1000  # how far back the recent surprise's own baseline reaches
LOG10_TAIL_FOR_FULL_SCORE = 10.0  # a 1e-10 tail probability scores 1.0
ALARM_LEVEL = 0.5  # a score at which the detector considers it has raised an alarm
MUTE_AFTER_ALARM = 300  # points muted after an alarm
RECORD_WINDOW = 100  # a score is reported only above every likelihood of this many points before it
RECURRING_TOLERANCE = 12  # a likelihood counts only if its recent surprise beats every one this close (in points)
RECURRING_MARGIN = 1.1  # ... to the same time 1 and 2 days earlier, by this factor (else the event is expected)
# Recent surprises kept between chunks: the likelihood's baseline, and the same time on the days compared.
RECENT_HISTORY = max(LIKELIHOOD_WINDOW, SEASONS_COMPARED * SEASON_POINTS + RECURRING_TOLERANCE)
EXCURSION_WINDOW = 2000  # a value is an excursion when it leaves the range of this many points before it
EXCURSION_MIN = 0.05  # ... by more than this fraction of that range
EXCURSION_BASE = 0.45  # an excursion's score: this, plus (below ALARM_LEVEL until the excess is 1/6 of the range)
EXCURSION_SLOPE = 0.3  # this times its excess (in ranges), capped at 1
DEFAULT_LEARNING_PERIOD = 750  # points (~2.6 days at 5-minute sampling) before excursions are reported
WARMUP_POINTS = 10  # no raw surprise before this many points have been seen
LIKELIHOOD_WARMUP = 50  # no score before the likelihood has this much baseline
RELATIVE_SCALE_FLOOR = 1e-3  # a flat series' spread is taken as 0.1% of its level
ABSOLUTE_SCALE_FLOOR = 1e-12
BLOCK_POINTS = 4096  # points scored per vectorised step; bounds memory on long series


class IncompatibleSnapshot(ValueError):
    """A snapshot that this version of the detector cannot continue from."""


class AnomalyDetector:
    """Scores a stream of values in [0, 1]; call `score` with successive chunks."""

    def __init__(self, learning_period: int = DEFAULT_LEARNING_PERIOD) -> None:
        self._learning_period = _non_negative_int(learning_period)
        self._values = np.empty(0)  # last HISTORY_POINTS values
        self._raw = np.empty(0)  # last SHORT_WINDOW - 1 raw surprises
        self._recent = np.empty(0)  # last RECENT_HISTORY recent-surprise averages
        self._likelihood = np.empty(0)  # last RECORD_WINDOW unexpected likelihoods (before muting)
        self._points_seen = 0
        self._points_since_alarm: int | None = None

    @property
    def points_seen(self) -> int:
        return self._points_seen

    def score(self, values) -> np.ndarray:
        """Anomaly scores in [0, 1] for `values`, which continue the stream seen so far."""
        return score_together([self], [values])[0]

    @property
    def learning_period(self) -> int:
        return self._learning_period

    def _stacking_key(self) -> tuple[int, ...]:
        """Detectors with the same key are scored together: their state arrays line up."""
        return (self._learning_period, self._points_seen, self._values.size, self._raw.size, self._recent.size,
                self._likelihood.size)

    def _mute_after_alarms(self, alarm_level: np.ndarray, reported: np.ndarray) -> np.ndarray:
        """`reported`, zeroed on the MUTE_AFTER_ALARM points after each point where `alarm_level` >= ALARM_LEVEL.

        Alarms are sparse, so loop on them.
        """
        scores = reported.copy()
        since = self._points_since_alarm
        last_alarm = None if since is None else -1 - since  # index relative to this block
        if last_alarm is not None:
            scores[:max(0, last_alarm + 1 + MUTE_AFTER_ALARM)] = 0.0
        for index in np.flatnonzero(alarm_level >= ALARM_LEVEL):
            if last_alarm is not None and index - last_alarm <= MUTE_AFTER_ALARM:
                continue
            last_alarm = int(index)
            scores[index + 1:index + 1 + MUTE_AFTER_ALARM] = 0.0
        if last_alarm is not None:
            since = alarm_level.size - 1 - last_alarm
            # Beyond the muting span the exact distance no longer matters.
            self._points_since_alarm = None if since >= MUTE_AFTER_ALARM else since
        return scores

    def snapshot(self) -> dict:
        """The detector's learned state as a JSON-serialisable dict (size bounded by its windows)."""
        return {
            "kind": SNAPSHOT_KIND,
            "version": SNAPSHOT_VERSION,
            "learning_period": self._learning_period,
            "points_seen": self._points_seen,
            "points_since_alarm": self._points_since_alarm,
            "values": self._values.tolist(),
            "raw_surprise": self._raw.tolist(),
            "recent_surprise": self._recent.tolist(),
            "likelihood": self._likelihood.tolist(),
        }

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> "AnomalyDetector":
        """A detector that continues the stream `snapshot` was taken from."""
        _check_snapshot_header(snapshot)
        try:
            detector = cls(learning_period=snapshot["learning_period"])
            detector._points_seen = _non_negative_int(snapshot["points_seen"])
            since = snapshot["points_since_alarm"]
            detector._points_since_alarm = None if since is None else _non_negative_int(since)
            detector._values = _finite_tail(snapshot["values"], HISTORY_POINTS)
            detector._raw = _finite_tail(snapshot["raw_surprise"], SHORT_WINDOW - 1)
            detector._recent = _finite_tail(snapshot["recent_surprise"], RECENT_HISTORY)
            detector._likelihood = _finite_tail(snapshot["likelihood"], RECORD_WINDOW)
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleSnapshot(f"anomaly detector snapshot is malformed: {error}") from None
        return detector


def score_together(detectors: list[AnomalyDetector], series: list) -> list[np.ndarray]:
    """Each detector's scores for its own next chunk (`series[i]` continues `detectors[i]`'s stream).

    Detectors whose state and chunk line up (the metrics of one host, as a rule) run as the rows of one set
    of numpy calls: a thousand points cost about as many calls as ten, so k metrics then cost little more
    than one. Each row's scores are exactly those it would get alone.
    """
    chunks = [np.asarray(values, dtype=float).ravel() for values in series]
    for chunk in chunks:
        if chunk.size and not np.all(np.isfinite(chunk)):
            raise ValueError("values must be finite")
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (detector, chunk) in enumerate(zip(detectors, chunks)):
        groups.setdefault((*detector._stacking_key(), chunk.size), []).append(index)
    scores: list[np.ndarray] = [np.empty(0)] * len(chunks)
    for members in groups.values():
        group = [detectors[index] for index in members]
        rows = np.stack([chunks[index] for index in members])
        blocks = [_score_block(group, rows[:, start:start + BLOCK_POINTS])
                  for start in range(0, rows.shape[1], BLOCK_POINTS)]
        stacked = np.concatenate(blocks, axis=1) if blocks else np.empty((len(members), 0))
        for row, index in enumerate(members):
            scores[index] = stacked[row]
    return scores


def _score_block(group: list[AnomalyDetector], block: np.ndarray) -> np.ndarray:
    """Scores of one block per detector (the rows of `block`); the detectors' state moves past it."""
    head = group[0]
    values = np.stack([detector._values for detector in group])
    raw_before = np.stack([detector._raw for detector in group])
    recent_before = np.stack([detector._recent for detector in group])
    likelihood_before = np.stack([detector._likelihood for detector in group])
    excursion = _excursion(values, block, head._points_seen, head._learning_period)
    raw = _raw_surprise(values, block, head._points_seen)
    raw_history = np.concatenate([raw_before, raw], axis=1)
    recent = trailing_mean_inclusive(raw_history, SHORT_WINDOW, raw_before.shape[1])
    recent_history = np.concatenate([recent_before, recent], axis=1)
    mean, std, count = trailing_mean_std(recent_history, LIKELIHOOD_WINDOW, recent_before.shape[1])
    z = (recent - mean) / np.maximum(std, 1e-3)
    likelihood = np.minimum(1.0, gaussian_tail_log10(z) / LOG10_TAIL_FOR_FULL_SCORE)
    likelihood[:, count < LIKELIHOOD_WARMUP] = 0.0
    usual = seasonal_peak(recent_history, SEASON_POINTS, SEASONS_COMPARED, RECURRING_TOLERANCE,
                          recent_before.shape[1])
    unexpected = np.where(recent > RECURRING_MARGIN * usual, likelihood, 0.0)
    likelihood_history = np.concatenate([likelihood_before, unexpected], axis=1)
    earlier_peak = trailing_max(likelihood_history, RECORD_WINDOW, likelihood_before.shape[1])
    reported = np.maximum(np.where(unexpected > earlier_peak, unexpected, 0.0), excursion)
    alarm_level = np.maximum(unexpected, excursion)
    kept_values = np.concatenate([values, block], axis=1)[:, -HISTORY_POINTS:]
    scores = np.empty(block.shape)
    for row, detector in enumerate(group):
        scores[row] = detector._mute_after_alarms(alarm_level[row], reported[row])
        detector._values = kept_values[row]
        detector._raw = raw_history[row, -(SHORT_WINDOW - 1):]
        detector._recent = recent_history[row, -RECENT_HISTORY:]
        detector._likelihood = likelihood_history[row, -RECORD_WINDOW:]
        detector._points_seen += block.shape[1]
    return scores


def _excursion(values: np.ndarray, block: np.ndarray, points_seen: int, learning_period: int) -> np.ndarray:
    """Score of each value that leaves the range of the EXCURSION_WINDOW values before it.

    The range is the trailing window's min..max; a value beyond it by more
    than EXCURSION_MIN of its width scores EXCURSION_BASE and more with the
    excess, so a new extreme is reported even when the recent surprise has
    been high for a while (a busy period raises the likelihood's baseline).
    Nothing is reported before the learning period has been seen.
    """
    scores = np.zeros(block.shape)
    # Points still inside the learning period score 0 whatever their range: only the rest are computed.
    size = block.shape[1]
    quiet = min(size, max(0, max(learning_period, WARMUP_POINTS) - points_seen))
    if quiet == size:
        return scores
    history = np.concatenate([values, block], axis=1)
    high, low, _ = trailing_extremes(history, EXCURSION_WINDOW, values.shape[1] + quiet)
    later = block[:, quiet:]
    width = np.maximum(high - low, RELATIVE_SCALE_FLOOR * np.abs(high) + ABSOLUTE_SCALE_FLOOR)
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.nan_to_num(np.maximum(later - high, low - later) / width, nan=0.0, posinf=0.0)
    scores[:, quiet:] = np.where(excess > EXCURSION_MIN,
                                 np.minimum(1.0, EXCURSION_BASE + EXCURSION_SLOPE * excess), 0.0)
    return scores


def _raw_surprise(values: np.ndarray, block: np.ndarray, points_seen: int) -> np.ndarray:
    """The largest |z| of value, step and seasonal residual / SURPRISE_FULL_AT_Z, capped at 1."""
    history = np.concatenate([values, block], axis=1)
    first = values.shape[1]
    # The first point ever has no step: it counts as a step of zero. Once the
    # window is full, history[0]'s placeholder step falls outside every window.
    steps = np.diff(history, axis=1, prepend=history[:, :1])
    level, spread, _ = trailing_mean_std(history, VALUE_WINDOW, first)
    floor = RELATIVE_SCALE_FLOOR * np.abs(level) + ABSOLUTE_SCALE_FLOOR
    value_z = _z(block, level, spread, floor)
    step_mean, step_spread, _ = trailing_mean_std(steps, VALUE_WINDOW, first)
    step_z = _z(steps[:, first:], step_mean, step_spread, floor)
    seasonal_z = _seasonal_z(history, first, floor)
    raw = np.minimum(1.0, np.maximum(np.maximum(value_z, step_z), seasonal_z) / SURPRISE_FULL_AT_Z)
    seen_before = points_seen + np.arange(block.shape[1])
    raw[:, seen_before < WARMUP_POINTS] = 0.0
    return raw


def _check_snapshot_header(snapshot) -> None:
    if not isinstance(snapshot, dict) or snapshot.get("kind") != SNAPSHOT_KIND:
        raise IncompatibleSnapshot("not an anomaly detector snapshot")
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise IncompatibleSnapshot(
            f"anomaly detector snapshot version {snapshot.get('version')!r} is not supported "
            f"(this detector reads version {SNAPSHOT_VERSION}); start from no baseline instead")


def _seasonal_z(history: np.ndarray, first: int, floor: np.ndarray) -> np.ndarray:
    """|z| of each new point's seasonal residual; 0 until SEASONAL_MIN_COUNT residuals exist.

    Residuals are missing in the stream's first SEASON_POINTS points. At the head
    of a history truncated to HISTORY_POINTS they are missing or compare fewer
    days, but that head lies before every window used, so chunking changes nothing.
    """
    size = history.shape[-1]
    if size - 1 - SEASON_POINTS < SEASONAL_MIN_COUNT:
        # Too short a history for any new point to have SEASONAL_MIN_COUNT residuals before it: all 0.
        return np.zeros(history.shape[:-1] + (size - first,))
    residual, valid = seasonal_residual(history, SEASON_POINTS, SEASONS_COMPARED)
    mean, spread, count = trailing_mean_std(residual, VALUE_WINDOW, first, valid)
    z = _z(residual[..., first:], mean, spread, floor)
    z[~valid[..., first:] | (count < SEASONAL_MIN_COUNT)] = 0.0
    return z


def _z(values: np.ndarray, mean: np.ndarray, spread: np.ndarray, floor: np.ndarray) -> np.ndarray:
    return np.abs(values - mean) / np.maximum(spread, floor)


def _non_negative_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _finite_tail(values, limit: int) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size > limit or not np.all(np.isfinite(array)):
        raise ValueError(f"expected at most {limit} finite numbers")
    return array
