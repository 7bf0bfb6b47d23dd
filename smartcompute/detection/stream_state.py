"""A metric stream's learned state as JSON, so a host's next job continues where its last one stopped.

Arrays travel as base64 of their deflated little-endian bytes: a week of history is a few thousand numbers per
metric, and as JSON text it would be several times the size. Values keep float64; times are stored as float32
seconds before the latest (a week back is still exact to a tenth of a second), and what only feeds quantiles
or is compared at a tolerance (surprises, what the season expected, counts) as float32.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

from smartcompute.detection.season import DAILY, WEEKLY, Period, SeasonProfile

STATE_KIND = "smartcompute.metric_stream"
STATE_VERSION = 1
# Which arrays of a stream are saved, and with which precision.
EXACT_ARRAYS = ("values", "context_times", "context_values", "incident_values", "recurring_values")
TIME_ARRAYS = ("times", "incident_times", "recurring_times")  # stored relative to the latest time seen
COMPACT_ARRAYS = ("surprises", "recent_surprises", "recent_totals", "incident_surprises")
SCALARS = ("run_length", "outside_since", "step", "season", "season_reviewed_at", "points_seen", "incident")
PERIODS: dict[str, Period] = {DAILY.name: DAILY, WEEKLY.name: WEEKLY}


class IncompatibleState(ValueError):
    """Saved state that this version of the detector cannot continue from."""


def encode(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, dtype=dtype).tobytes(), 1)).decode("ascii")


def decode(text: str, dtype: str) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    return np.frombuffer(raw, dtype=dtype).astype(np.int64 if dtype.startswith("<i") else float)


def save(stream) -> dict:
    """The stream's state as a JSON-serialisable dict."""
    state = {"kind": STATE_KIND, "version": STATE_VERSION}
    latest = stream.last_time or 0.0
    state["latest"] = latest
    state.update({name: encode(getattr(stream, name), "<f8") for name in EXACT_ARRAYS})
    state.update({name: encode(latest - getattr(stream, name), "<f4") for name in TIME_ARRAYS})
    state.update({name: encode(getattr(stream, name), "<f4") for name in COMPACT_ARRAYS})
    state["seasonal"] = {name: encode(expected, "<f4") for name, expected in stream.seasonal.items()}
    state["recurring_seasonal"] = {
        name: encode(expected, "<f4") for name, expected in stream.recurring_seasonal.items()
    }
    state["profiles"] = {
        name: {
            "sums": encode(profile.sums, "<f8"),
            "counts": encode(profile.counts, "<f4"),
            "cycle": encode(profile.cycle, "<i4"),
        }
        for name, profile in stream.profiles.items()
    }
    state.update({name: getattr(stream, name) for name in SCALARS})
    return state


def restore(stream, state: dict) -> None:
    """Load `state` (from `save`) into a fresh stream; raises IncompatibleState."""
    if not isinstance(state, dict) or state.get("kind") != STATE_KIND:
        raise IncompatibleState("not a metric stream's state")
    if state.get("version") != STATE_VERSION:
        raise IncompatibleState(
            f"metric stream state version {state.get('version')!r} is not supported "
            f"(this detector reads version {STATE_VERSION})"
        )
    try:
        for name in EXACT_ARRAYS:
            setattr(stream, name, decode(state[name], "<f8"))
        latest = float(state["latest"])
        for name in TIME_ARRAYS:
            setattr(stream, name, latest - decode(state[name], "<f4"))
        for name in COMPACT_ARRAYS:
            setattr(stream, name, decode(state[name], "<f4"))
        stream.seasonal = {name: decode(state["seasonal"][name], "<f4") for name in PERIODS}
        stream.recurring_seasonal = {name: decode(state["recurring_seasonal"][name], "<f4") for name in PERIODS}
        stream.profiles = {name: _profile(period, state["profiles"][name]) for name, period in PERIODS.items()}
        for name in SCALARS:
            setattr(stream, name, state[name])
        _check(stream)
    except (KeyError, TypeError, ValueError, AttributeError, zlib.error) as error:
        raise IncompatibleState(f"metric stream state is malformed: {error}") from None


def _profile(period: Period, data: dict) -> SeasonProfile:
    profile = SeasonProfile(period)
    shape = profile.sums.shape
    profile.sums = decode(data["sums"], "<f8").reshape(shape)
    profile.counts = decode(data["counts"], "<f4").reshape(shape)
    profile.cycle = decode(data["cycle"], "<i4").reshape(shape)
    return profile


def _check(stream) -> None:
    """The arrays that run side by side must have one length, and the scalars their types."""
    history = {
        stream.times.size,
        stream.values.size,
        stream.surprises.size,
        *(residuals.size for residuals in stream.seasonal.values()),
    }
    if len(history) != 1:
        raise ValueError("history arrays differ in length")
    if not stream.incident_times.size == stream.incident_values.size == stream.incident_surprises.size:
        raise ValueError("incident arrays differ in length")
    if stream.context_times.size != stream.context_values.size:
        raise ValueError("context arrays differ in length")
    if not isinstance(stream.run_length, int) or not isinstance(stream.points_seen, int):
        raise ValueError("counts must be integers")
    if stream.season not in (None, *PERIODS):
        raise ValueError(f"unknown season {stream.season!r}")
    if stream.incident is not None and not isinstance(stream.incident, dict):
        raise ValueError("incident must be an object")
