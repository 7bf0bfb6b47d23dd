"""The residual channels: the fast channel's step away from the usual, and the level channel's trailing mean."""

import numpy as np

from smartcompute.detection.reference import fast_residuals, trailing_mean


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


def test_a_level_is_the_mean_of_the_window_ending_at_each_sample():
    means = trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert np.isnan(means[0]) and list(means[1:]) == [1.5, 2.5, 3.5]


def test_a_sample_with_no_expectation_leaves_no_level_only_in_the_windows_that_hold_it():
    means = trailing_mean(np.array([np.nan, 1.0, 2.0, 3.0, 4.0]), 2)
    assert np.isnan(means[:2]).all() and list(means[2:]) == [1.5, 2.5, 3.5]
