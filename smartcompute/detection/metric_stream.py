"""The streaming detector of one metric: per-sample onset scores and incidents with a start and an end.

Each sample gets a surprise (-log10 of how rarely the metric's clean history goes this far; see
`reference.py`). Where no incident is open, a sample whose surprise reaches the threshold opens one: its
onset score is what a pager alerts on. While an incident is open its samples do not teach the baseline, so
the reference it is judged against stays the one from before its onset; samples still outside the normal
band (surprise >= MEMBER_SURPRISE) belong to it, and it closes once none has been seen for CLOSE_AFTER. An
incident that lasts ACCEPT_AFTER is the new normal: it closes, and its samples become the history.

There is no blind period after an alarm: what keeps one event from paging twice is the open incident.
Inside one, a sample whose surprise exceeds everything the incident has shown by another threshold's worth
scores again (the incident got much worse).

The work is vectorised over segments of samples that share one reference (it is rebuilt as the history
grows), and the incident logic searches each segment for its next event, so the Python loop runs once per
segment or event, not per sample.
"""

from __future__ import annotations

import numpy as np

from smartcompute.detection import stream_state
from smartcompute.detection.evidence import Evidence, run_lengths
from smartcompute.detection.incident_course import moving_away, settled
from smartcompute.detection.incidents import quiet_gap, score
from smartcompute.detection.parameters import (
    ACCEPT_AFTER,
    ACTIVITY_SAMPLES,
    ACTIVITY_SPAN,
    FALSE_INCIDENTS_PER_DAY,
    HISTORY_POINTS,
    HISTORY_SPAN,
    LEVEL_SAMPLES,
    LEVEL_SPAN,
    MIN_HISTORY,
    RECORD_SPAN,
    RECURRING,
    REFRESH_FRACTION,
    SEASON_COVERAGE,
    SEASON_REVIEW,
    SEGMENT_SAMPLES,
    SPIKE_DURATION,
    TESTS_PER_SAMPLE,
)
from smartcompute.detection.reference import Reference, build_reference, choose_season
from smartcompute.detection.season import DAILY, WEEKLY, SeasonProfile

CONTEXT = LEVEL_SAMPLES[1] - 1  # earlier samples the fast and level channels reach back to
RECORD_MAX_SAMPLES = 4096  # bounds the record rule's memory at fine sampling


def onset_threshold(step_seconds: float, metrics: int) -> float:
    """The surprise at which a sample opens an incident: every test of every metric of a host, over a day of
    samples, shares FALSE_INCIDENTS_PER_DAY (a Bonferroni bound, so 100 metrics alarm no more than one)."""
    samples_per_day = 86_400.0 / max(step_seconds, 1e-3)
    return float(np.log10(max(samples_per_day, 1.0) * max(metrics, 1) * TESTS_PER_SAMPLE / FALSE_INCIDENTS_PER_DAY))


class MetricStream:
    """One metric's learned state; `process` scores the next chunk of its samples."""

    def __init__(self) -> None:
        self.times = np.empty(0)  # clean history
        self.values = np.empty(0)
        self.surprises = np.empty(0)  # each clean sample's surprise when it was judged
        self.recurring_times = np.empty(0)  # the peaks of closed incidents (see _remember_once)
        self.recurring_values = np.empty(0)
        self.recurring_seasonal = {DAILY.name: np.empty(0), WEEKLY.name: np.empty(0)}
        self.seasonal = {DAILY.name: np.empty(0), WEEKLY.name: np.empty(0)}  # what each period expected of it
        self.profiles = {DAILY.name: SeasonProfile(DAILY), WEEKLY.name: SeasonProfile(WEEKLY)}
        self.context_times = np.empty(0)  # the last CONTEXT samples, clean or not
        self.context_values = np.empty(0)
        self.recent_surprises = np.empty(0)  # the last samples' surprises, for the activity channel
        self.recent_totals = np.empty(0)  # the last RECORD_SPAN of samples' total surprise, for the record rule
        self.run_length = 0  # samples in the current run of one repeated value
        self.outside_since: float | None = None  # when the current run of samples outside the band began
        self.step: float | None = None  # typical sampling interval, seconds
        self.season: str | None = None  # the period the metric follows, if any ...
        self.season_reviewed_at: float | None = None  # ... as judged at this time
        self.points_seen = 0
        self.incident: dict | None = None
        self.incident_times = np.empty(0)  # an open incident's samples, for when it becomes the new normal
        self.incident_values = np.empty(0)
        self.incident_surprises = np.empty(0)
        self._reference: Reference | None = None
        self._fresh_for = 0

    @property
    def last_time(self) -> float | None:
        """The latest timestamp seen (None before the first sample)."""
        return float(self.context_times.max()) if self.context_times.size else None

    def save(self) -> dict:
        return stream_state.save(self)

    @classmethod
    def load(cls, state: dict) -> MetricStream:
        """A stream that continues from `state` (from `save`); raises IncompatibleState."""
        stream = cls()
        stream_state.restore(stream, state)
        return stream

    def learn(self, times: np.ndarray, values: np.ndarray) -> None:
        """Take these samples as clean history without judging them: what another monitor learned of the
        metric, so that its first job is judged from its first sample."""
        self._update_step(times)
        self._absorb(times, values, np.ones(times.size, bool))
        self.points_seen += times.size

    # ----- scoring --------------------------------------------------------------------------------------
    def process(self, times: np.ndarray, values: np.ndarray, threshold: float) -> ChunkOutcome:
        outcome = ChunkOutcome(times.size)
        self._update_step(times)
        position = 0
        while position < times.size:
            position = self._segment(times, values, position, threshold, outcome)
        self.points_seen += times.size
        outcome.open_incident = dict(self.incident) if self.incident else None
        return outcome

    def _segment(self, times, values, start, threshold, outcome) -> int:
        """Score samples from `start` against one reference; returns where the next segment starts."""
        reference = self._current_reference()
        if reference is None:  # still learning: everything is clean, nothing is judged
            end = min(times.size, start + max(1, MIN_HISTORY - self.values.size))
            self._absorb(times[start:end], values[start:end], np.ones(end - start, bool))
            return end
        end = min(times.size, start + self._fresh_for)
        seg_t, seg_x = times[start:end], values[start:end]
        evidence = Evidence(self, reference, seg_t, seg_x)
        clean = np.zeros(seg_t.size, bool)
        index, rebuilt = 0, False
        while index < seg_t.size and not rebuilt:
            if self.incident is None:
                index = self._find_onset(evidence, index, threshold, clean, outcome, start)
            else:
                index, rebuilt = self._follow_incident(evidence, index, threshold, clean, outcome, start)
                if self.incident is None and not rebuilt:
                    evidence.forget_incident(clean, index)
        done = index if rebuilt else seg_t.size
        self._absorb(seg_t[:done], seg_x[:done], clean[:done], evidence)
        self._fresh_for -= done
        if rebuilt:
            self._adopt_new_normal()
        return start + done

    def _find_onset(self, evidence, index, threshold, clean, outcome, offset) -> int:
        hits = np.flatnonzero(evidence.total[index:] >= threshold)
        stop = evidence.size if hits.size == 0 else index + int(hits[0])
        clean[index:stop] = True
        outcome.scores[offset + index : offset + stop] = np.where(
            evidence.record[index:stop], score(evidence.total[index:stop], threshold), 0.0
        )
        if hits.size == 0:
            return stop
        self.incident = evidence.open_incident(stop, threshold)
        outcome.scores[offset + stop] = score(evidence.total[stop], threshold)
        outcome.member[offset + stop] = True
        self._hold_incident_sample(
            evidence.times[stop : stop + 1], evidence.values[stop : stop + 1], evidence.point[stop : stop + 1]
        )
        return stop + 1

    def _follow_incident(self, evidence, index, threshold, clean, outcome, offset) -> tuple[int, bool]:
        """Extend the open incident over the segment from `index`; returns (next index, reference rebuilt)."""
        incident = self._open_incident()
        times = evidence.times[index:]
        member = evidence.belongs(threshold)[index:]
        if incident["kind"] == "flatline":
            member = member | evidence.repeats[index:]
        # Every incident ends only after a quiet gap, so the averaging channels (level, activity) have left its
        # samples behind by then and its end opens no other.
        last_belonging = np.maximum.accumulate(np.where(member, times, incident["last_belonging"]))
        quiet = times - last_belonging >= quiet_gap(self.step or 0.0)
        accepted = times >= incident["review_at"]
        ends = np.flatnonzero(quiet | accepted)
        stop = ends[0] if ends.size else times.size
        # Escalation is judged on single samples' surprise: averaging channels grow by themselves as an incident
        # goes on, and that is not news.
        member, surprise = member[:stop], evidence.point[index : index + stop]
        running_peak = np.maximum.accumulate(np.where(member, surprise, 0.0))
        before = np.concatenate([[incident["peak_surprise"]], np.maximum(running_peak[:-1], incident["peak_surprise"])])
        escalates = member & (surprise >= before + threshold)
        scores = outcome.scores[offset + index : offset + index + stop]
        scores[escalates] = score(surprise[escalates], threshold)
        outcome.member[offset + index : offset + index + stop] = member
        self._grow(evidence, index, stop, member, surprise, threshold)
        self._hold_incident_sample(
            times[:stop], evidence.values[index : index + stop], evidence.point[index : index + stop]
        )
        if stop == times.size:
            return evidence.size, False
        if accepted[stop] and not quiet[stop]:
            if settled(self.incident_times, self.incident_values, incident["reference"], self.values):
                self._accept_incident(outcome)
                return index + stop, True
            incident["review_at"] = float(times[stop]) + ACCEPT_AFTER / 4
            return index + stop, False
        self._close_incident(outcome, "recovered")
        return index + stop, False

    def _grow(self, evidence, index, stop, member, surprise, threshold) -> None:
        incident = self._open_incident()
        if not member.any():
            return
        members = np.flatnonzero(member)
        incident["last_belonging"] = float(evidence.times[index + members[-1]])
        # The incident ends at its last sample that is itself anomalous (not one kept in by the ones before it).
        anomalous = np.flatnonzero(member & evidence.anomalous(threshold)[index : index + len(member)])
        if anomalous.size:
            incident["last_member"] = float(evidence.times[index + anomalous[-1]])
        peak = members[np.argmax(surprise[members])]
        if surprise[peak] > incident["peak_surprise"]:
            incident["peak_surprise"] = float(surprise[peak])
            incident["peak_at"] = float(evidence.times[index + peak])
            incident["peak_value"] = float(evidence.values[index + peak])
            incident["threshold"] = threshold
        values = evidence.values[index : index + len(member)][member]
        incident["max_value"] = max(incident["max_value"], float(values.max()))
        incident["min_value"] = min(incident["min_value"], float(values.min()))
        if incident["kind"] == "spike" and incident["last_member"] - incident["start"] > SPIKE_DURATION:
            incident["kind"] = "level_shift"
        if incident["kind"] == "level_shift" and moving_away(
            self.incident_times, self.incident_values, incident["reference"]
        ):
            incident["kind"] = "drift"

    def _open_incident(self) -> dict:
        """The open incident, for the steps that only run while there is one."""
        assert self.incident is not None, "no incident is open"
        return self.incident

    def _close_incident(self, outcome, resolution: str) -> None:
        incident = dict(self._open_incident(), resolution=resolution)
        outcome.closed.append(incident)
        self.incident = None
        self._remember_once(incident["peak_at"], incident["peak_value"])
        self.incident_times, self.incident_values, self.incident_surprises = np.empty(0), np.empty(0), np.empty(0)

    def _accept_incident(self, outcome) -> None:
        self._new_normal = (self.incident_times, self.incident_values, self.incident_surprises)
        self._close_incident(outcome, "accepted as the new normal")

    def _adopt_new_normal(self) -> None:
        """An accepted incident's samples replace the history: its level is what is normal now."""
        self.times, self.values, self.surprises = times, values, surprises = self._new_normal
        for name in self.profiles:
            self.seasonal[name] = self.expected_by(name, times, values)
        self._reference, self._fresh_for = None, 0

    def _remember_once(self, time: float, value: float) -> None:
        """A closed incident is remembered by its peak sample. Once RECURRING incidents are remembered within the
        history's span, their peaks join the history the reference is built from: events that keep happening (a
        bursty series' bursts) become normal, while one incident, however long, neither floods the history nor
        hides the next one."""
        times, values = np.array([time]), np.array([value])
        for name in self.profiles:
            expected = self.expected_by(name, times, values)[0]
            self.recurring_seasonal[name] = np.append(self.recurring_seasonal[name], expected)[-HISTORY_POINTS:]
        self.recurring_times = np.append(self.recurring_times, time)[-HISTORY_POINTS:]
        self.recurring_values = np.append(self.recurring_values, value)[-HISTORY_POINTS:]

    def _learning_history(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The clean history's values and seasonal residuals, with the remembered incidents' peaks once they
        recur."""
        if self.recurring_times.size and self.times.size:
            recent = self.recurring_times >= self.times.max() - HISTORY_SPAN
            if recent.sum() >= RECURRING:
                return (
                    np.concatenate([self.values, self.recurring_values[recent]]),
                    {
                        name: np.concatenate([residuals, self.recurring_seasonal[name][recent]])
                        for name, residuals in self.seasonal.items()
                    },
                )
        return self.values, self.seasonal

    def _hold_incident_sample(self, times, values, surprises) -> None:
        self.incident_times = np.concatenate([self.incident_times, times])[-HISTORY_POINTS:]
        self.incident_values = np.concatenate([self.incident_values, values])[-HISTORY_POINTS:]
        self.incident_surprises = np.concatenate([self.incident_surprises, surprises])[-HISTORY_POINTS:]

    # ----- learning ---------------------------------------------------------------------------------------
    def _absorb(self, times, values, clean, evidence: Evidence | None = None) -> None:
        """Move the context past these samples and add the clean ones to the history."""
        if times.size == 0:
            return
        for name, profile in self.profiles.items():
            if evidence is not None:
                expected = evidence.seasonal_expected[name][: times.size]
            else:
                expected = self.expected_by(name, times, values)
            self.seasonal[name] = np.concatenate([self.seasonal[name], expected[clean]])
            profile.learn(times, values)
        self.times = np.concatenate([self.times, times[clean]])
        self.values = np.concatenate([self.values, values[clean]])
        # Samples taken in without being judged (while learning) have no surprise: NaN keeps them out of the
        # activity channel's tail, where zeros would make the first ordinary hour look like a storm.
        point = evidence.point[: times.size] if evidence is not None else np.full(times.size, np.nan)
        self.surprises = np.concatenate([self.surprises, point[clean]])
        # An incident's samples are its own news: they leave the activity average, so closing it does not
        # open another.
        self.recent_surprises = np.concatenate(
            [self.recent_surprises, np.where(clean & np.isfinite(point), point, 0.0)]
        )[-ACTIVITY_SAMPLES[1] :]
        if evidence is not None:
            self.recent_totals = np.concatenate([self.recent_totals, evidence.total[: times.size]])[
                -(self.record_samples() + 1) :
            ]
            self.run_length = int(evidence.run_length[times.size - 1])
            self.outside_since = evidence.outside_since_after(times.size - 1)
        else:
            self.run_length = int(
                run_lengths(np.concatenate([self.context_values, values]), self.run_length, self.context_values.size)[
                    -1
                ]
            )
        self.context_times = np.concatenate([self.context_times, times])[-CONTEXT:]
        self.context_values = np.concatenate([self.context_values, values])[-CONTEXT:]
        self._trim_history()

    def _trim_history(self) -> None:
        if self.times.size == 0:
            return
        # Counted rather than searched: rows out of order are accepted, so the history need not be sorted.
        keep = max(
            self.times.size - HISTORY_POINTS, int(np.count_nonzero(self.times < self.times.max() - HISTORY_SPAN))
        )
        if keep > 0:
            self.times, self.values, self.surprises = self.times[keep:], self.values[keep:], self.surprises[keep:]
            for name in self.seasonal:
                self.seasonal[name] = self.seasonal[name][keep:]

    def _current_reference(self) -> Reference | None:
        if self._reference is None or self._fresh_for <= 0:
            latest = float(self.context_times.max()) if self.context_times.size else 0.0
            if self.season_reviewed_at is None or latest - self.season_reviewed_at >= SEASON_REVIEW:
                self.season = choose_season(self.profiles, self.step or 0.0, self.season, self._season_coverage())
                self.season_reviewed_at = latest
            values, seasonal = self._learning_history()
            self._reference = build_reference(
                values,
                seasonal,
                self.season,
                self.surprises,
                self._samples(ACTIVITY_SPAN, *ACTIVITY_SAMPLES),
                self._samples(LEVEL_SPAN, *LEVEL_SAMPLES),
            )
            least, most = SEGMENT_SAMPLES
            self._fresh_for = int(min(max(self.values.size * REFRESH_FRACTION, least), most))
        return self._reference

    def expected_by(self, name: str, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        """What the period `name` expected of these samples; NaN when the history cannot span that period at this
        sampling interval (a week of 10-second samples), so it could never be followed and is not looked up."""
        step = self.step or 0.0
        if HISTORY_POINTS * step < SEASON_COVERAGE * self.profiles[name].period.seconds:
            return np.full(times.size, np.nan)
        return self.profiles[name].expected(times, values, step)

    def _season_coverage(self) -> dict[str, float]:
        """For each period, the time the history's residuals against it span."""
        coverage = {}
        for name, residuals in self.seasonal.items():
            known = self.times[np.isfinite(residuals)]
            coverage[name] = float(known.max() - known.min()) if known.size else 0.0
        return coverage

    def record_samples(self) -> int:
        return self._samples(RECORD_SPAN, 1, RECORD_MAX_SAMPLES)

    def _samples(self, span: float, least: int, most: int) -> int:
        """How many samples cover `span` at this metric's sampling interval, within [least, most]."""
        return min(max(round(span / (self.step or span)), least), most)

    def _update_step(self, times: np.ndarray) -> None:
        gaps = np.diff(np.concatenate([self.context_times[-1:], times]))
        gaps = gaps[gaps > 0]
        if gaps.size:
            self.step = float(np.median(gaps))


class ChunkOutcome:
    """What `MetricStream.process` reports for one chunk."""

    def __init__(self, size: int):
        self.scores = np.zeros(size)
        self.member = np.zeros(size, bool)
        self.closed: list[dict] = []
        self.open_incident: dict | None = None
