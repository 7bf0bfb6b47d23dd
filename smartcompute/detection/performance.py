"""Performance analysis: per-metric distribution, trend, daily seasonality, saturation and headroom.

Every number in the result, recommendations included, is computed from the data supplied.
Hours of day are UTC, because telemetry carries no time zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcompute.detection.incidents import quiet_gap
from smartcompute.detection.reference import find_season
from smartcompute.detection.telemetry import Telemetry, iso8601
from smartcompute.detection.threat.findings import to_json
from smartcompute.detection.threat.metric_names import canonical_name, is_percentage, recognise_metrics
from smartcompute.detection.threat.series import DAY, run_duration, sample_interval, true_runs

SATURATION_LEVEL = 90.0
SATURATION_MIN_SECONDS = 15 * 60.0
SEASONALITY_MIN_DAYS = 2.0
SEASONAL_MIN_AUTOCORRELATION = 0.3  # correlation of the detrended series with itself one day later
SEASONAL_MIN_EXPLAINED = 0.25  # share of variance the hour-of-day profile explains
# Below two days a daily cycle looks like a trend; a fit this tight is a trend anyway (a sine fits at most 0.61).
SHORT_SPAN_MIN_R2 = 0.8
MAX_GRID_POINTS = 200_000
MAX_FORECAST_DAYS = 3650.0  # a date further out than this is noise, and may not even be representable
# When a recommendation is worth making:
HIGH_P95_PERCENT = 80.0
LOW_P95_PERCENT = 20.0
FORECAST_HORIZON_DAYS = 30.0
URGENT_DAYS = 7.0
NOTABLE_GROWTH = 0.2  # a non-percentage metric growing by a fifth over the period is worth saying
NOTABLE_DAILY_SWING = 0.2  # a daily swing of a fifth of the mean is worth planning around


def analyze_performance(telemetry: Telemetry) -> dict:
    recognise_metrics(telemetry.metrics)  # rejects impossible values, as the threat analysis does
    t = telemetry.timestamps
    interval = sample_interval(t)
    metrics, episodes = {}, []
    for name, values in telemetry.metrics.items():
        is_percent = is_percentage(name, values)
        metric_episodes = saturation_episodes(t, values, name, interval) if is_percent else []
        metrics[name] = describe_metric(t, values, is_percent, metric_episodes)
        metrics[name]["canonical"] = canonical_name(name)
        episodes.extend(metric_episodes)
    episodes.sort(key=lambda episode: episode["start"])
    span_days = float(t[-1] - t[0]) / DAY
    return to_json(
        {
            "period": {
                "start": iso8601(t[0]),
                "end": iso8601(t[-1]),
                "points": int(t.shape[0]),
                "sample_interval_seconds": interval,
                "span_days": span_days,
            },
            "metrics": metrics,
            "saturation_episodes": episodes,
            "recommendations": recommend(metrics, episodes, span_days),
        }
    )


def describe_metric(t: np.ndarray, values: np.ndarray, is_percent: bool, episodes: list[dict]) -> dict:
    seasonality, daily_component = daily_seasonality(t, values)
    trend = linear_trend(t, values - daily_component)
    p95 = float(np.percentile(values, 95))
    summary = {
        "unit": "percent" if is_percent else None,
        "count": int(values.shape[0]),
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "min": float(np.min(values)),
        "p50": float(np.percentile(values, 50)),
        "p95": p95,
        "p99": float(np.percentile(values, 99)),
        "max": float(np.max(values)),
        "trend": trend,
        "seasonality": seasonality,
    }
    if is_percent:
        summary["headroom"] = headroom(p95, trend, float(t[-1]))
        summary["saturation"] = {
            "threshold_percent": SATURATION_LEVEL,
            "episodes": len(episodes),
            "minutes_total": sum(e["duration_minutes"] for e in episodes),
        }
    return summary


@dataclass(frozen=True)
class LineFit:
    slope_per_day: float
    fitted_start: float
    fitted_end: float
    r_squared: float
    residual_std: float


def fit_line(t: np.ndarray, values: np.ndarray) -> LineFit | None:
    """Least squares on time in days; None when there is no time axis to fit (one point, or one instant)."""
    if values.shape[0] < 2 or t[-1] == t[0]:
        return None
    days = (t - t[0]) / DAY
    slope, intercept = np.polyfit(days, values, 1)
    residual = values - (intercept + slope * days)
    total = float(np.sum((values - values.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual**2)) / total if total > 0 else 0.0
    return LineFit(
        float(slope),
        float(intercept),
        float(intercept + slope * days[-1]),
        max(0.0, r_squared),
        float(np.std(residual)),
    )


def linear_trend(t: np.ndarray, values: np.ndarray) -> dict:
    """Slope per day; "rising"/"falling" when the change over the period clearly exceeds the noise."""
    fit = fit_line(t, values)
    if fit is None:
        return {"slope_per_day": 0.0, "direction": "flat", "reliable": False, "reason": "needs two timestamps"}
    span_days = float(t[-1] - t[0]) / DAY
    change = fit.slope_per_day * span_days
    significant = abs(change) >= max(2.0 * fit.residual_std, 1e-9) and fit.r_squared >= 0.1
    direction = ("rising" if change > 0 else "falling") if significant else "flat"
    reliable = span_days >= SEASONALITY_MIN_DAYS or fit.r_squared >= SHORT_SPAN_MIN_R2
    trend = {
        "slope_per_day": fit.slope_per_day,
        "change_over_period": change,
        "r_squared": fit.r_squared,
        "direction": direction,
        "reliable": bool(reliable),
        "fitted_end": fit.fitted_end,
    }
    if not reliable:
        trend["reason"] = "under two days of data: a daily cycle cannot be told apart from a trend"
    return trend


def daily_seasonality(t: np.ndarray, values: np.ndarray) -> tuple[dict, np.ndarray | float]:
    """Hour-of-day profile and one-day autocorrelation of the detrended series; needs two days of data.

    Also returns the daily component at each sample (0 when there is none), so the trend can be fitted
    without the cycle pulling on it.
    """
    span_days = float(t[-1] - t[0]) / DAY
    if span_days < SEASONALITY_MIN_DAYS:
        return {"detected": False, "reason": f"needs at least {SEASONALITY_MIN_DAYS:g} days of data"}, 0.0
    fit = fit_line(t, values)
    assert fit is not None, "two days of data have two distinct timestamps"
    detrended = values - (fit.fitted_start + fit.slope_per_day * (t - t[0]) / DAY)
    spread = float(np.sum((detrended - detrended.mean()) ** 2))
    if spread <= 1e-12 * max(1.0, float(np.sum(values**2))):
        return {"detected": False, "reason": "the series is constant"}, 0.0
    hour = ((t % DAY) // 3600).astype(np.int64)
    counts = np.bincount(hour, minlength=24)
    profile = np.bincount(hour, weights=detrended, minlength=24) / np.maximum(counts, 1)
    explained = 1.0 - float(np.sum((detrended - profile[hour]) ** 2)) / spread
    autocorrelation = _autocorrelation_one_day(t, detrended)
    detected = autocorrelation >= SEASONAL_MIN_AUTOCORRELATION and explained >= SEASONAL_MIN_EXPLAINED
    observed = np.flatnonzero(counts)
    peak, trough = observed[np.argmax(profile[observed])], observed[np.argmin(profile[observed])]
    result = {
        "detected": bool(detected),
        "period": find_season(t, values),
        "autocorrelation_1d": autocorrelation,
        "variance_explained": explained,
        "peak_hour_utc": int(peak),
        "trough_hour_utc": int(trough),
        "amplitude": float(profile[peak] - profile[trough]),
    }
    daily_component = profile[hour] - float(np.mean(profile[hour])) if detected else 0.0
    return result, daily_component


def _autocorrelation_one_day(t: np.ndarray, values: np.ndarray) -> float:
    """Correlation between the series and itself 24 h later, on a regular grid so gaps do not shift the lag."""
    # A few closely spaced samples must not turn weeks of data into a grid of millions of points.
    interval = max(sample_interval(t), float(t[-1] - t[0]) / MAX_GRID_POINTS)
    grid = np.arange(t[0], t[-1] + interval / 2, interval)
    regular = np.interp(grid, t, values)
    lag = int(round(DAY / interval))
    if lag <= 0 or regular.shape[0] - lag < 2:
        return 0.0
    early, late = regular[:-lag], regular[lag:]
    if np.std(early) == 0 or np.std(late) == 0:
        return 0.0
    return float(np.corrcoef(early, late)[0, 1])


def saturation_episodes(t: np.ndarray, values: np.ndarray, name: str, interval: float) -> list[dict]:
    """Stretches at or above 90% lasting 15+ minutes; stretches closer than an incident's quiet gap are one episode,
    as they would be one incident. A sample stands for one interval, so end = last + interval."""
    episodes = []
    for run in true_runs(values >= SATURATION_LEVEL, t, quiet_gap(interval)):
        duration = run_duration(run, t, interval)
        if duration < SATURATION_MIN_SECONDS:
            continue
        during = values[run.first : run.last + 1]
        episodes.append(
            {
                "metric": name,
                "start": iso8601(t[run.first]),
                "end": iso8601(t[run.last] + interval),
                "duration_minutes": duration / 60.0,
                "peak": float(np.max(during)),
                "mean": float(np.mean(during)),
                "threshold_percent": SATURATION_LEVEL,
            }
        )
    return episodes


def headroom(p95: float, trend: dict, last_timestamp: float) -> dict:
    """Room left under 100% at the 95th percentile, and when a rising trend would use it all up."""
    room: dict[str, float | str | None] = {
        "percent_at_p95": 100.0 - p95,
        "days_to_saturation": None,
        "saturation_eta": None,
    }
    slope = trend.get("slope_per_day", 0.0)
    if trend.get("direction") == "rising" and slope > 0:
        days = max(0.0, (100.0 - trend["fitted_end"]) / slope)
        room["days_to_saturation"] = days
        if days <= MAX_FORECAST_DAYS:
            room["saturation_eta"] = iso8601(last_timestamp + days * DAY)
    return room


# ----- recommendations: each cites the numbers above that justify it ----------------------------------


def recommend(metrics: dict[str, dict], episodes: list[dict], span_days: float) -> list[dict]:
    advice = []
    for name, summary in metrics.items():
        if summary["unit"] == "percent":
            advice.extend(_percent_advice(name, summary, [e for e in episodes if e["metric"] == name], span_days))
        else:
            advice.extend(_growth_advice(name, summary))
        advice.extend(_seasonal_advice(name, summary))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(advice, key=lambda item: order[item["priority"]])


def _advice(metric: str, kind: str, priority: str, message: str, **numbers) -> dict:
    return {"metric": metric, "kind": kind, "priority": priority, "message": message, "numbers": numbers}


def _percent_advice(name: str, summary: dict, episodes: list[dict], span_days: float) -> list[dict]:
    advice = []
    p95, room = summary["p95"], summary["headroom"]
    if episodes:
        total = sum(e["duration_minutes"] for e in episodes)
        longest = max(episodes, key=lambda e: e["duration_minutes"])
        advice.append(
            _advice(
                name,
                "saturation",
                "high",
                f"{name} was at or above 90% for {total:.0f} min in {len(episodes)} episode(s); the longest lasted "
                f"{longest['duration_minutes']:.0f} min from {longest['start']} (peak {longest['peak']:.1f}%). "
                f"p95 is {p95:.1f}%: add capacity or move work out of these windows.",
                minutes_saturated=total,
                episodes=len(episodes),
                longest_minutes=longest["duration_minutes"],
                p95=p95,
            )
        )
    elif p95 >= HIGH_P95_PERCENT:
        advice.append(
            _advice(
                name,
                "low_headroom",
                "medium",
                f"{name} p95 is {p95:.1f}%, leaving {room['percent_at_p95']:.1f} points of headroom; a load spike "
                f"would saturate it. Plan more capacity before adding load.",
                p95=p95,
                headroom=room["percent_at_p95"],
            )
        )
    elif p95 < LOW_P95_PERCENT and span_days >= 1.0:
        advice.append(
            _advice(
                name,
                "over_provisioned",
                "low",
                f"{name} p95 is only {p95:.1f}% (max {summary['max']:.1f}%) over {span_days:.1f} days: "
                f"a smaller size would likely do.",
                p95=p95,
                max=summary["max"],
            )
        )
    days = room["days_to_saturation"]
    if days is not None and days <= FORECAST_HORIZON_DAYS and summary["trend"]["reliable"]:
        slope = summary["trend"]["slope_per_day"]
        advice.append(
            _advice(
                name,
                "rising_trend",
                "high" if days <= URGENT_DAYS else "medium",
                f"{name} is rising {slope:.2f} points/day; at this rate it reaches 100% in {days:.1f} days "
                f"(around {room['saturation_eta']}). Find the growth (leak, data growth) or add capacity before then.",
                slope_per_day=slope,
                days_to_saturation=days,
                saturation_eta=room["saturation_eta"],
            )
        )
    return advice


def _growth_advice(name: str, summary: dict) -> list[dict]:
    trend, mean = summary["trend"], summary["mean"]
    if trend["direction"] != "rising" or not trend["reliable"] or mean <= 0:
        return []
    growth = trend["change_over_period"] / mean
    if growth < NOTABLE_GROWTH:
        return []
    return [
        _advice(
            name,
            "rising_trend",
            "medium",
            f"{name} is rising {trend['slope_per_day']:.4g}/day ({growth:.0%} of its mean {mean:.4g} over the period); "
            f"check that capacity downstream of it keeps up.",
            slope_per_day=trend["slope_per_day"],
            growth_fraction=growth,
            mean=mean,
        )
    ]


def _seasonal_advice(name: str, summary: dict) -> list[dict]:
    seasonality, mean = summary["seasonality"], summary["mean"]
    if not seasonality.get("detected") or mean <= 0 or seasonality["amplitude"] < NOTABLE_DAILY_SWING * mean:
        return []
    return [
        _advice(
            name,
            "daily_peak",
            "low",
            f"{name} follows a daily cycle (1-day autocorrelation {seasonality['autocorrelation_1d']:.2f}) peaking "
            f"around {seasonality['peak_hour_utc']:02d}:00 UTC, {seasonality['amplitude']:.4g} above its low at "
            f"{seasonality['trough_hour_utc']:02d}:00 UTC: schedule batch jobs and maintenance near the low.",
            peak_hour_utc=seasonality["peak_hour_utc"],
            trough_hour_utc=seasonality["trough_hour_utc"],
            amplitude=seasonality["amplitude"],
            autocorrelation_1d=seasonality["autocorrelation_1d"],
        )
    ]
