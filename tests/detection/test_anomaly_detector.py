import json

import numpy as np
import pytest

from smartcompute.detection.anomaly import (
    ALARM_LEVEL,
    EXCURSION_WINDOW,
    HISTORY_POINTS,
    RECENT_HISTORY,
    MUTE_AFTER_ALARM,
    RECORD_WINDOW,
    SEASON_POINTS,
    AnomalyDetector,
    IncompatibleSnapshot,
    score_together,
)
from smartcompute.detection.anomaly_stats import seasonal_peak, trailing_extremes, trailing_max, trailing_mean_std


def daily_series(days: int, seed: int = 3) -> np.ndarray:
    """A busy period of 100 points in every SEASON_POINTS-point day, with noise."""
    rng = np.random.default_rng(seed)
    busy = (np.arange(days * SEASON_POINTS) % SEASON_POINTS >= 100) & (np.arange(days * SEASON_POINTS) % SEASON_POINTS < 200)
    return 20 + 60 * busy + rng.normal(0, 2, days * SEASON_POINTS)


def noisy_series(points: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + 5 * np.sin(np.arange(points) / 40) + rng.normal(0, 1, points)


def test_scores_one_value_in_0_1_per_point():
    scores = AnomalyDetector().score(noisy_series(2000))
    assert scores.shape == (2000,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_a_level_shift_raises_an_alarm_within_a_few_points():
    values = noisy_series(1500)
    values[1200:] += 30
    scores = AnomalyDetector().score(values)
    assert scores[:1200].max() < 0.5
    assert scores[1200:1210].max() >= 0.5


def test_a_single_spike_scores_above_anything_in_its_quiet_history():
    values = noisy_series(1500)
    values[1200] += 60
    scores = AnomalyDetector().score(values)
    assert scores[1200:1210].max() > 2 * scores[:1200].max()


def test_score_of_a_point_uses_only_earlier_points():
    values = noisy_series(1500)
    changed_future = values.copy()
    changed_future[1000:] += 100
    assert np.array_equal(AnomalyDetector().score(values)[:1000],
                          AnomalyDetector().score(changed_future)[:1000])


def test_points_after_an_alarm_are_muted():
    values = noisy_series(2000)
    values[1200:] += 30
    values[1250:] += 80
    scores = AnomalyDetector().score(values)
    alarm = 1200 + int(np.argmax(scores[1200:1210] >= 0.5))
    assert scores[alarm] >= 0.5
    assert np.all(scores[alarm + 1:alarm + 1 + MUTE_AFTER_ALARM] == 0)


def test_a_point_scores_only_above_every_likelihood_of_the_record_window_before_it():
    values = noisy_series(3000)
    values[[1200, 1230, 2000]] += [12, 9, 12]  # a weaker echo 30 points after the first spike
    scores = AnomalyDetector().score(values)
    assert scores[1200:1210].max() > 0
    assert np.all(scores[1211:1200 + RECORD_WINDOW] <= scores[1200:1211].max())
    assert scores[1230:1240].max() == 0
    assert scores[2000:2010].max() > 0  # long after the first event, a new one scores again


def test_restored_snapshot_continues_like_an_uninterrupted_run():
    values = noisy_series(9000)
    values[[2500, 6100, 8000]] += [40, -50, 70]
    uninterrupted = AnomalyDetector().score(values)
    first = AnomalyDetector()
    head = first.score(values[:3333])
    snapshot = json.loads(json.dumps(first.snapshot()))
    tail = AnomalyDetector.from_snapshot(snapshot).score(values[3333:])
    np.testing.assert_allclose(np.concatenate([head, tail]), uninterrupted, rtol=0, atol=1e-9)


def test_restore_after_the_history_is_truncated_continues_like_an_uninterrupted_run():
    values = daily_series(40)
    values[9 * SEASON_POINTS + 100:9 * SEASON_POINTS + 200] = 20  # a day without its busy period
    uninterrupted = AnomalyDetector().score(values)
    first = AnomalyDetector()
    head = np.concatenate([first.score(chunk) for chunk in np.split(values[:7777], range(1000, 7777, 1000))])
    snapshot = json.loads(json.dumps(first.snapshot()))
    assert len(snapshot["values"]) == HISTORY_POINTS
    tail = AnomalyDetector.from_snapshot(snapshot).score(values[7777:])
    np.testing.assert_allclose(np.concatenate([head, tail]), uninterrupted, rtol=0, atol=1e-9)


def test_a_day_missing_its_usual_busy_period_raises_an_alarm():
    values = daily_series(20)
    missing_day = 15 * SEASON_POINTS
    values[missing_day + 100:missing_day + 200] = 20 + np.random.default_rng(5).normal(0, 2, 100)
    scores = AnomalyDetector().score(values)
    assert scores[missing_day + 100:missing_day + 200].max() >= 0.5
    assert scores[8 * SEASON_POINTS:missing_day + 100].max() < 0.5


def test_scoring_in_small_chunks_matches_one_call():
    values = noisy_series(1200)
    values[900] += 50
    detector = AnomalyDetector()
    chunked = np.concatenate([detector.score(values[i:i + 7]) for i in range(0, 1200, 7)])
    np.testing.assert_allclose(chunked, AnomalyDetector().score(values), rtol=0, atol=1e-9)


def test_series_scored_together_score_exactly_as_each_does_alone():
    # A host's metrics: two with the same history (scored as one batch), one with a longer history, one level.
    histories = [noisy_series(4000, seed=1), noisy_series(4000, seed=2), daily_series(20)[:5000], np.full(4000, 3.0)]
    chunks = [noisy_series(1500, seed=3), daily_series(6)[:1500], noisy_series(1500, seed=4), np.full(1500, 3.0)]
    chunks[0][700] += 40
    chunks[3][1200] = 9.0
    together = [AnomalyDetector() for _ in histories]
    alone = [AnomalyDetector() for _ in histories]
    for detectors in (together, alone):
        for detector, history in zip(detectors, histories):
            detector.score(history)
    scores = score_together(together, chunks)
    for detector_together, detector_alone, chunk, score in zip(together, alone, chunks, scores):
        assert score.tobytes() == detector_alone.score(chunk).tobytes()
        assert detector_together.snapshot() == detector_alone.snapshot()
    assert scores[0][700] >= ALARM_LEVEL and scores[3][1200] >= ALARM_LEVEL


def test_snapshot_size_is_bounded_by_the_windows_not_the_series_length():
    detector = AnomalyDetector()
    detector.score(noisy_series(50_000))
    snapshot = detector.snapshot()
    assert len(snapshot["values"]) <= HISTORY_POINTS
    assert len(snapshot["recent_surprise"]) <= RECENT_HISTORY
    assert len(snapshot["likelihood"]) <= RECORD_WINDOW
    assert len(json.dumps(snapshot)) < 120_000


def test_snapshot_of_another_version_is_rejected_with_a_clear_error():
    snapshot = AnomalyDetector().snapshot()
    snapshot["version"] = 999
    with pytest.raises(IncompatibleSnapshot, match="version 999 is not supported"):
        AnomalyDetector.from_snapshot(snapshot)


def test_malformed_snapshot_is_rejected():
    snapshot = AnomalyDetector().snapshot()
    snapshot["values"] = ["not a number"]
    with pytest.raises(IncompatibleSnapshot, match="malformed"):
        AnomalyDetector.from_snapshot(snapshot)


@pytest.mark.parametrize("values", [
    [], [3.0], [3.0, 4.0], [7.0] * 500, [-1e6, -2e6] * 300, [1e300, -1e300] * 300, [0.0] * 400 + [1.0],
], ids=["empty", "one", "two", "constant", "negative", "huge", "flat-then-step"])
def test_never_fails_and_stays_in_range_on_awkward_series(values):
    scores = AnomalyDetector().score(values)
    assert scores.shape == (len(values),)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        AnomalyDetector().score([1.0, float("nan")])


def busy_then_quiet_series(seed: int = 11) -> np.ndarray:
    """A quiet level, then a long busy stretch that swings across most of the range seen so far."""
    rng = np.random.default_rng(seed)
    values = 33 + rng.normal(0, 0.2, 4000)
    values[300:320] -= 10  # an early dip sets the range the busy stretch stays inside
    values[1500:] += 2.5 * np.sign(np.sin(np.arange(2500) * 2 * np.pi / 5))
    return values


def test_a_new_extreme_after_a_busy_stretch_raises_an_alarm():
    values = busy_then_quiet_series()
    values[3000] = 45  # well beyond everything of the last EXCURSION_WINDOW points
    scores = AnomalyDetector().score(values)
    assert scores[3000] >= ALARM_LEVEL
    assert scores[2000:3000].max() < ALARM_LEVEL  # once the busy stretch is familiar, it is quiet


def test_no_excursion_is_reported_during_the_learning_period():
    values = noisy_series(1500)
    values[400] += 200
    still_learning = AnomalyDetector(learning_period=500).score(values)[400]
    learnt = AnomalyDetector(learning_period=300).score(values)[400]
    assert still_learning < learnt
    assert learnt >= ALARM_LEVEL


def test_the_learning_period_is_kept_in_the_snapshot():
    values = busy_then_quiet_series()
    values[[900, 3000]] = [60, 45]
    uninterrupted = AnomalyDetector(learning_period=1000).score(values)
    first = AnomalyDetector(learning_period=1000)
    head = first.score(values[:850])
    restored = AnomalyDetector.from_snapshot(json.loads(json.dumps(first.snapshot())))
    assert restored.learning_period == 1000
    np.testing.assert_allclose(np.concatenate([head, restored.score(values[850:])]), uninterrupted, rtol=0, atol=1e-9)


@pytest.mark.parametrize("learning_period", [-1, 2.5, True, "750"])
def test_an_invalid_learning_period_is_refused(learning_period):
    with pytest.raises(ValueError):
        AnomalyDetector(learning_period=learning_period)


@pytest.mark.parametrize("size,window,first", [
    (50, 7, 0), (50, 7, 13), (3000, EXCURSION_WINDOW, 2500), (5, 10, 0), (10, 3, 10),
])
def test_trailing_extremes_match_a_direct_computation(size, window, first):
    values = np.random.default_rng(size + window).normal(size=size)
    high, low, count = trailing_extremes(values, window, first)
    for position, index in enumerate(range(first, size)):
        earlier = values[max(0, index - window):index]
        assert count[position] == earlier.size
        assert high[position] == (earlier.max() if earlier.size else -np.inf)
        assert low[position] == (earlier.min() if earlier.size else np.inf)


@pytest.mark.parametrize("size,window,first", [(50, 7, 0), (50, 7, 13), (40, 100, 5), (41, 40, 0), (42, 40, 0), (1, 5, 0)])
def test_trailing_max_matches_a_direct_computation(size, window, first):
    values = np.random.default_rng(size * window).normal(size=size)
    values[0] = 10.0  # the largest value leaves the window first
    expected = [values[max(0, index - window):index].max(initial=-np.inf) for index in range(first, size)]
    assert trailing_max(values, window, first).tolist() == expected


@pytest.mark.parametrize("size,window,first,masked", [
    (60, 7, 0, False), (60, 7, 20, True), (30, 100, 3, False), (30, 100, 3, True), (200, 50, 199, True),
])
def test_trailing_mean_and_std_match_a_direct_computation(size, window, first, masked):
    rng = np.random.default_rng(size + window)
    values = 1e6 + rng.normal(size=size)
    valid = rng.random(size) > 0.3 if masked else np.ones(size, dtype=bool)
    mean, std, count = trailing_mean_std(values, window, first, valid if masked else None)
    for position, index in enumerate(range(first, size)):
        earlier = values[max(0, index - window):index][valid[max(0, index - window):index]]
        assert count[position] == earlier.size
        if earlier.size:
            assert mean[position] == pytest.approx(earlier.mean(), abs=1e-9)
            assert std[position] == pytest.approx(earlier.std(), abs=1e-7)


def spike_every_day(days: int, seed: int = 12) -> np.ndarray:
    """A quiet series with one spike a day, at the same time of day give or take 5 points."""
    values = 10 + np.random.default_rng(seed).normal(0, 0.2, days * SEASON_POINTS)
    for day in range(days):
        values[day * SEASON_POINTS + 150 + 5 * (-1) ** day] += 20
    return values


def test_a_spike_recurring_at_the_same_time_every_day_stops_raising_alarms():
    scores = AnomalyDetector().score(spike_every_day(12))
    alarm_days = [day for day in range(3, 12)
                  if scores[day * SEASON_POINTS:(day + 1) * SEASON_POINTS].max() >= ALARM_LEVEL]
    assert len(alarm_days) <= 1


def test_a_spike_at_an_unusual_time_of_day_is_still_reported():
    values = spike_every_day(12)
    values[10 * SEASON_POINTS + 220] += 20
    scores = AnomalyDetector().score(values)
    assert scores[10 * SEASON_POINTS + 220:10 * SEASON_POINTS + 230].max() >= ALARM_LEVEL


@pytest.mark.parametrize("size,first,tolerance", [(1500, 0, 12), (1500, 900, 12), (700, 650, 0), (100, 50, 3)])
def test_seasonal_peak_matches_a_direct_computation(size, first, tolerance):
    values = np.random.default_rng(size + first).random(size)
    peak = seasonal_peak(values, SEASON_POINTS, 2, tolerance, first)
    for position, index in enumerate(range(first, size)):
        near = [values[max(0, centre - tolerance):centre + tolerance + 1]
                for centre in (index - SEASON_POINTS, index - 2 * SEASON_POINTS) if centre + tolerance >= 0]
        assert peak[position] == max([0.0] + [float(span.max()) for span in near])
