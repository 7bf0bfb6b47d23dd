"""The NAB scorer on tiny corpora whose scores can be worked out by hand.

One 100-row file: the probationary period is its first 15 rows, and one
labelled window spans rows 40..49 (width 10).
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from nab_score import PROFILES, LabelledSeries, scaled_sigmoid, score_corpus  # noqa: E402

STANDARD = PROFILES["standard"]
WINDOW = (40, 49)
MAX_TP = 2 / (1 + math.exp(-5)) - 1


def detections_at(*rows: int, length: int = 100) -> np.ndarray:
    scores = np.zeros(length)
    scores[list(rows)] = 1.0
    return scores


def score(*rows: int, profile=STANDARD, windows=(WINDOW,)):
    return score_corpus([LabelledSeries("file", detections_at(*rows), windows)], profile)


def test_profile_weights_are_nab_v1_1():
    assert (STANDARD.tp_weight, STANDARD.fp_weight, STANDARD.fn_weight) == (1.0, 0.11, 1.0)
    assert PROFILES["reward_low_FP_rate"].fp_weight == 0.22
    assert PROFILES["reward_low_FN_rate"].fn_weight == 2.0


def test_scaled_sigmoid_is_zero_at_the_window_end_and_minus_one_far_after():
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(-1.0) == pytest.approx(MAX_TP)
    assert scaled_sigmoid(3.0) == -1.0


def test_detecting_at_the_first_row_of_every_window_scores_100():
    assert score(40).normalised == pytest.approx(100.0)


def test_never_detecting_scores_0():
    assert score().normalised == pytest.approx(0.0)


def test_a_detection_mid_window_earns_the_sigmoid_of_its_position():
    reward = (2 / (1 + math.exp(-2.5)) - 1) / MAX_TP  # row 45: position -(49-45+1)/10 = -0.5
    assert score(45).raw_score == pytest.approx(reward)
    assert score(45).normalised == pytest.approx(100 * (reward + 1) / 2)


def test_early_detection_beats_late_detection():
    assert score(41).normalised > score(45).normalised > score(49).normalised > 0


def test_only_the_first_detection_in_a_window_counts():
    assert score(40, 42, 45, 49).raw_score == pytest.approx(score(40).raw_score)


def test_a_false_positive_before_any_window_costs_the_full_fp_weight():
    assert score(20, 40).raw_score == pytest.approx(1.0 - 0.11)


def test_a_false_positive_after_a_window_costs_the_sigmoid_of_its_distance():
    position = (60 - 49) / (10 - 1)
    expected_cost = 0.11 * (2 / (1 + math.exp(5 * position)) - 1)
    assert score(40, 60).raw_score == pytest.approx(1.0 + expected_cost)


def test_each_row_over_the_threshold_is_a_separate_false_positive():
    assert score(20, 21, 22, 40).raw_score == pytest.approx(1.0 - 3 * 0.11)


def test_detections_in_the_probationary_period_are_ignored():
    assert score(3, 10, 40).raw_score == pytest.approx(1.0)


def test_the_threshold_is_chosen_once_for_the_whole_corpus():
    # File a: its window is found at 0.9. File b: 0.9 is also a false positive in a
    # window-less file, so the best single threshold is still 0.9 (gain 1 + 1 > 0.11).
    a = np.zeros(100)
    a[40] = 0.9
    b = np.zeros(100)
    b[30] = 0.9
    result = score_corpus([LabelledSeries("a", a, (WINDOW,)), LabelledSeries("b", b, ())], STANDARD)
    assert result.threshold == 0.9
    assert result.raw_score == pytest.approx(1.0 - 0.11)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 1, 0)


def test_a_threshold_that_detects_only_false_positives_is_not_chosen():
    scores = np.zeros(100)
    scores[20] = 0.9
    scores[45] = 0.5
    result = score_corpus([LabelledSeries("f", scores, (WINDOW,))], STANDARD)
    assert result.threshold == 0.5 and result.false_positives == 1


def test_low_fn_profile_doubles_the_cost_of_a_missed_window():
    result = score(20, profile=PROFILES["reward_low_FN_rate"])
    assert result.null_score == -2.0
    assert result.raw_score == -2.0  # the FP-only threshold loses to detecting nothing
