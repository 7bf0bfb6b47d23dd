"""The fast channel: how far a sample moves away from what is usual, compared with the three before it."""

import numpy as np

from smartcompute.detection.reference import fast_residuals


def test_a_move_further_from_the_usual_counts_the_step():
    slow = np.array([0.0, 1.0, 1.0, 1.0, 3.0])
    assert fast_residuals(slow)[-1] == 2.0


def test_a_move_back_towards_the_usual_is_no_news():
    slow = np.array([0.0, 3.0, 3.0, 3.0, 1.0])
    assert fast_residuals(slow)[-1] == 0.0


def test_a_move_across_the_usual_counts_only_the_part_beyond_it():
    # From half a unit above the median to 0.7 below: the way back to the median is no news, the rest is.
    slow = np.array([0.0, 0.5, 0.5, 0.5, -0.7])
    assert fast_residuals(slow)[-1] == -0.7


def test_the_first_three_samples_have_no_past_to_move_from():
    assert np.isnan(fast_residuals(np.array([1.0, 2.0, 3.0, 4.0]))[:3]).all()
