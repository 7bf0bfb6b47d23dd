"""NAB-style scoring of anomaly scores against labelled windows.

Follows the semantics of the Numenta Anomaly Benchmark v1.1 (Lavin & Ahmad
2015; Ahmad et al. 2017): every row above the threshold is a detection; inside
a labelled window only the earliest detection counts, rewarded by a scaled
sigmoid of its position; a detection outside any window is a false positive
whose cost also follows the sigmoid of its distance past the preceding window
(full cost when no window precedes it); a window with no detection costs the
false-negative weight; rows in the probationary period are ignored. The
threshold is chosen once for the whole corpus, and the total is normalised so
that the null detector scores 0 and the perfect detector 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROBATIONARY_FRACTION = 0.15
# NAB caps the probationary period at 15% of 5,000 rows.
PROBATIONARY_CAP_ROWS = 5000


@dataclass(frozen=True)
class CostProfile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


# The weights of NAB v1.1's config/profiles.json (TN weight is unused by the scorer).
PROFILES = {
    "standard": CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


@dataclass(frozen=True)
class LabelledSeries:
    """One file's detector output with its labelled windows as row indices (inclusive)."""

    name: str
    anomaly_scores: np.ndarray
    windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class CorpusScore:
    profile: str
    threshold: float
    raw_score: float
    null_score: float
    perfect_score: float
    normalised: float
    true_positives: int
    false_positives: int
    false_negatives: int


def scaled_sigmoid(relative_position: np.ndarray) -> np.ndarray:
    """NAB's reward curve: ~+1 at a window's left edge, 0 at its right edge, ~-1 far past it."""
    position = np.asarray(relative_position, dtype=float)
    reward = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, reward)


def probationary_length(row_count: int) -> float:
    return min(math.floor(PROBATIONARY_FRACTION * row_count), PROBATIONARY_FRACTION * PROBATIONARY_CAP_ROWS)


def row_rewards(row_count: int, windows: tuple[tuple[int, int], ...], profile: CostProfile):
    """Weighted reward of a detection at each row, and the window index of each row (-1 outside).

    Inside a window the reward is the sigmoid of the row's position relative to
    the window's width, scaled so the window's first row earns exactly tp_weight.
    Outside, the (negative) reward grows with the distance past the preceding window.
    """
    rows = np.arange(row_count)
    window_of_row = np.full(row_count, -1)
    fp_position = np.full(row_count, 3.0)  # no preceding window: full FP cost
    tp_reward = np.zeros(row_count)
    max_tp = float(scaled_sigmoid(-1.0))
    for index, (start, end) in enumerate(windows):
        width = end - start + 1
        inside = slice(start, end + 1)
        window_of_row[inside] = index
        tp_reward[inside] = scaled_sigmoid(-(end - rows[inside] + 1) / width) * profile.tp_weight / max_tp
        after = rows > end
        if width > 1:
            fp_position[after] = (rows[after] - end) / (width - 1)
        else:  # NAB divides by width - 1; a one-row window makes any later FP count fully
            fp_position[after] = 3.0
    fp_reward = scaled_sigmoid(fp_position) * profile.fp_weight
    reward = np.where(window_of_row >= 0, tp_reward, fp_reward)
    return reward, window_of_row


def score_corpus(corpus: list[LabelledSeries], profile: CostProfile, threshold: float | None = None) -> CorpusScore:
    """Score the corpus at `threshold`, or at the single threshold that maximises the total."""
    scores, rewards, window_ids = _scorable_rows(corpus, profile)
    scorable_windows = np.unique(window_ids[window_ids >= 0])
    null_score = -profile.fn_weight * len(scorable_windows)
    perfect_score = profile.tp_weight * sum(len(series.windows) for series in corpus)

    order = np.argsort(-scores, kind="stable")
    scores, rewards, window_ids = scores[order], rewards[order], window_ids[order]
    gains = _detection_gains(rewards, window_ids, profile)
    totals = null_score + np.cumsum(gains)
    # A threshold admits every row scoring at or above it: evaluate at the last row of each tie group.
    group_ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    candidate_thresholds = np.concatenate([[np.inf], scores[group_ends]])
    candidate_totals = np.concatenate([[null_score], totals[group_ends]])
    if threshold is None:
        best = int(np.argmax(candidate_totals))  # first maximum: the highest threshold achieving it
    else:
        best = int(np.searchsorted(-candidate_thresholds, -threshold, side="right") - 1)
    chosen_threshold = float(candidate_thresholds[best]) if threshold is None else threshold
    detected = slice(0, 0) if best == 0 else slice(0, group_ends[best - 1] + 1)
    raw = float(candidate_totals[best])
    return CorpusScore(
        profile=profile.name,
        threshold=chosen_threshold,
        raw_score=raw,
        null_score=null_score,
        perfect_score=perfect_score,
        normalised=_normalise(raw, null_score, perfect_score),
        true_positives=len(np.unique(window_ids[detected][window_ids[detected] >= 0])),
        false_positives=int(np.sum(window_ids[detected] < 0)),
        false_negatives=len(scorable_windows) - len(np.unique(window_ids[detected][window_ids[detected] >= 0])),
    )


def _normalise(raw: float, null_score: float, perfect_score: float) -> float:
    """0 for the null detector, 100 for the perfect one; NaN for a corpus without windows."""
    if perfect_score == null_score:
        return math.nan
    return 100.0 * (raw - null_score) / (perfect_score - null_score)


def _scorable_rows(corpus: list[LabelledSeries], profile: CostProfile):
    """Concatenate the rows after each file's probationary period, with corpus-wide window ids."""
    scores, rewards, window_ids = [], [], []
    window_offset = 0
    for series in corpus:
        count = len(series.anomaly_scores)
        reward, window_of_row = row_rewards(count, series.windows, profile)
        scorable = np.arange(count) >= probationary_length(count)
        scores.append(np.asarray(series.anomaly_scores, dtype=float)[scorable])
        rewards.append(reward[scorable])
        window_ids.append(np.where(window_of_row >= 0, window_of_row + window_offset, -1)[scorable])
        window_offset += len(series.windows)
    return np.concatenate(scores), np.concatenate(rewards), np.concatenate(window_ids)


def _detection_gains(rewards: np.ndarray, window_ids: np.ndarray, profile: CostProfile) -> np.ndarray:
    """Change of the total score as each row (in descending score order) becomes a detection.

    A false positive adds its (negative) reward. Within a window only the best
    (earliest) detection counts, so a row adds the rise of the window's running
    maximum, starting from the missed-window penalty.
    """
    gains = np.where(window_ids < 0, rewards, 0.0)
    in_window = np.flatnonzero(window_ids >= 0)
    if in_window.size:
        ids = window_ids[in_window]
        by_window = np.lexsort((in_window, ids))  # group by window, keep descending-score order
        grouped_ids, grouped_rewards = ids[by_window], rewards[in_window][by_window]
        running_best = np.empty_like(grouped_rewards)
        starts = np.flatnonzero(np.append(True, grouped_ids[1:] != grouped_ids[:-1]))
        for begin, finish in zip(starts, np.append(starts[1:], len(grouped_ids))):
            running_best[begin:finish] = np.maximum.accumulate(
                np.maximum(grouped_rewards[begin:finish], -profile.fn_weight)
            )
        previous_best = np.concatenate([[0.0], running_best[:-1]])
        previous_best[starts] = -profile.fn_weight
        gains[in_window[by_window]] = running_best - previous_best
    return gains
