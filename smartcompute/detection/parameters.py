"""Every parameter of the anomaly detector, in one place, in units of time or of probability.

They were chosen by leave-one-category-out cross-validation on the public NAB series and checked on
synthetic hosts shaped like the categories we do not have (bench/nab_cv.py; docs/detection.md says how).
Counts of samples appear only where they bound memory or work, or where a statistic needs that many.
"""

from __future__ import annotations

# How much a host may be wrongly alarmed: the onset threshold shares this among every test of every metric
# of a host over a day of samples (so 100 metrics alarm no more often than one).
FALSE_INCIDENTS_PER_DAY = 0.03
TESTS_PER_SAMPLE = 8  # fast, slow and level channels, each up and down; the repeated-value run; the activity

# The clean history every sample is judged against.
HISTORY_SPAN = 28 * 86_400.0  # how far back it reaches ...
HISTORY_POINTS = 2016  # ... in at most this many samples (a week at 5-minute sampling), to bound memory
MIN_HISTORY = 30  # samples before anything is judged: enough for a median and a rough tail
TAIL_FRACTION = 0.01  # the share of the history beyond a tail's threshold (the Pareto part)
TAIL_SHAPE_MARGIN = 0.25  # standard errors added to a tail's fitted shape: few excesses may hide a heavier tail
RECURRING = 3  # closed incidents within the history's span after which such events are normal

# The channels (see reference.py).
LEVEL_SPAN = 30 * 60.0  # the level channel averages the slow residual over this long ...
LEVEL_SAMPLES = (3, 12)  # ... in at least and at most so many samples
ACTIVITY_SPAN = 3600.0  # the activity channel averages the samples' surprises over this long ...
ACTIVITY_SAMPLES = (3, 64)  # ... in at least and at most so many samples
ACTIVITY_CAP = 3.0  # one sample adds at most a 1-in-1,000 surprise to that average
NOISY_REPEAT_RATE = 0.05  # a metric that repeats a value this rarely is noisy, and a long repeat a flatline

# Seasons (see season.py).
SEASON_TOLERANCE = 30 * 60.0  # a recurring event may come this much earlier or later than on earlier days
SEASON_AGREEMENT = 0.5  # a period matters when the same time one period back predicts this much better
SEASON_COVERAGE = 0.9  # ... and the history's residuals against it span this share of it
SEASON_REVIEW = 6 * 3600.0  # how often whether a metric follows a period is reconsidered

# Incidents.
MEMBER_SURPRISE = 2.0  # outside the 1-in-100 band: a sample (with its two before) still belongs to the incident
CLOSE_AFTER = 30 * 60.0  # quiet time after which an incident has ended (at least CLOSE_SAMPLES samples)
CLOSE_SAMPLES = 2
ACCEPT_AFTER = 86_400.0  # an incident open this long, and no longer moving, is the new normal
SPIKE_DURATION = 5 * 60.0  # an incident no longer than this is a spike
DRIFT_LEAD_SAMPLES = 5  # an excursion this many samples old when it was detected is a drift, not a jump
ZERO_FRACTION = 0.01  # a value within this fraction of zero, on a metric whose band is above it, is a dropout
RECORD_SPAN = 6 * 3600.0  # below the onset threshold, a sample scores only above every sample this far back

# Work per step: the reference is rebuilt after REFRESH_FRACTION of its history is new samples, within these.
REFRESH_FRACTION = 1 / 8
SEGMENT_SAMPLES = (32, 512)
