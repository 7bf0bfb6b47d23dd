"""How an open incident's samples move, judged against the reference it opened with: a trend away from it (a
leak, a disk filling up), a level that has settled (and may become the new normal), or one value held (a stuck
sensor, never the new normal)."""

from __future__ import annotations

import numpy as np

from smartcompute.detection.parameters import ACCEPT_AFTER, LEVEL_SPAN, NOISY_REPEAT_RATE


def moving_away(times: np.ndarray, values: np.ndarray, reference: dict) -> bool:
    """Whether the incident is a trend rather than a step: over at least two level spans, its level has moved
    further from the reference by more than the reference band is wide."""
    if times.size < 8 or times.max() - times.min() < 2 * LEVEL_SPAN:
        return False
    quarter = times.size // 4
    first, last = float(np.median(values[:quarter])), float(np.median(values[-quarter:]))
    low, high = reference["band"]
    center = reference["median"]
    return abs(last - center) - abs(first - center) > high - low


def settled(times: np.ndarray, values: np.ndarray, reference: dict, history: np.ndarray) -> bool:
    """Whether the incident's level has stopped moving: the medians of its last two quarter-days differ by less
    than its reference band is wide (a disk still filling up is not the new normal), and it is not stuck."""
    if stuck(values, history):
        return False
    latest = times.max()
    recent = values[times >= latest - ACCEPT_AFTER / 4]
    before = values[(times < latest - ACCEPT_AFTER / 4) & (times >= latest - ACCEPT_AFTER / 2)]
    if recent.size == 0 or before.size == 0:
        return True
    low, high = reference["band"]
    return abs(float(np.median(recent)) - float(np.median(before))) <= high - low


def stuck(held: np.ndarray, history: np.ndarray) -> bool:
    """Whether the incident mostly repeats one value on a metric whose clean history rarely does."""
    if held.size < 2 or history.size < 2:
        return False
    return float(np.mean(history[1:] == history[:-1])) <= NOISY_REPEAT_RATE < float(np.mean(held[1:] == held[:-1]))
