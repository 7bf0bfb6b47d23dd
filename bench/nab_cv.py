"""How the detector's parameters were chosen, and whether they hold on data they were not chosen on.

Usage: python -m bench.nab_cv [--data PATH] [--quick]

1. Every parameter set of the grid, and the one the rule picks: among the sets with which the whole scenario
   table (tests/detection/incident_scenarios.py) passes, the best sum of the NAB standard score and the
   synthetic hosts' score. Leave one category out: each fold picks by the same rule from the other public
   categories only, and is scored on the held-out one with NAB's own threshold optimisation there.
   The no-anomaly files are the false-alarm check: the false positives they get at the corpus threshold.
2. The chosen (production) parameters side by side with two peers on the public files: a rolling robust
   z-score (median and MAD of the last day of samples) and river's HalfSpaceTrees.
3. Synthetic hosts shaped like the NAB categories the public subset lacks (bench/synthetic_hosts.py), and
   false incidents per day on the clean twins of the scenario table (tests/detection/incident_scenarios.py).

The grid is small on purpose: few parameters, each in time or probability (smartcompute/detection/parameters.py).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import pkgutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import smartcompute.detection as detection
from bench import synthetic_hosts
from bench.nab_eval import Series, default_data_path, load_corpus, score_series
from bench.nab_score import PROFILES, LabelledSeries, score_corpus
from smartcompute.detection.anomaly_report import analyze_anomalies
from smartcompute.detection.telemetry import Telemetry

GRID = {
    "FALSE_INCIDENTS_PER_DAY": (0.03, 0.1, 0.3),
    "HISTORY_SPAN": (7 * 86_400.0, 28 * 86_400.0),
    "CLOSE_AFTER": (15 * 60.0, 30 * 60.0),
    "TAIL_FRACTION": (0.01, 0.03),
    "TAIL_SHAPE_MARGIN": (0.0, 0.25, 0.5),
}
QUICK_GRID = {"FALSE_INCIDENTS_PER_DAY": (0.1, 0.3), "CLOSE_AFTER": (15 * 60.0, 30 * 60.0)}
STANDARD = PROFILES["standard"]


@contextmanager
def parameters(**values):
    """Run with some detector parameters changed: every detection module that imported one sees the new value."""
    modules = [
        importlib.import_module(f"{detection.__name__}.{info.name}")
        for info in pkgutil.iter_modules(detection.__path__)
    ]
    saved = [(module, name, getattr(module, name)) for module in modules for name in values if hasattr(module, name)]
    for module, name, _ in saved:
        setattr(module, name, values[name])
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def nab_score(scored: list[LabelledSeries]) -> float:
    return score_corpus(scored, STANDARD).normalised


def cross_validate(corpus: list[Series], grid: dict) -> None:
    """Score every parameter set, then choose as production is chosen: among the sets with which the whole
    scenario table passes, the best sum of the public and the synthetic scores; each fold chooses the same way
    from the public files it may see."""
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    scored, synthetic_scores, passing = _score_grid(corpus, combos)
    categories = sorted({s.category for s in corpus if s.windows})
    production = {name: _current(name) for name in grid}
    print(
        "every parameter set (standard profile): all public files, each category on its own, synthetic hosts, "
        "whether the scenario table passes"
    )
    for index, combo in enumerate(combos):
        per_category = [
            nab_score([scored[index][s.name] for s in corpus if s.category == category]) for category in categories
        ]
        mark = "  <- production" if combo == production else ""
        print(
            f"  {_short(combo):85s} {nab_score(list(scored[index].values())):6.2f}  "
            + "  ".join(f"{value:6.2f}" for value in per_category)
            + f"  {synthetic_scores[index]:6.2f}  {'passes' if passing[index] else 'fails '}{mark}"
        )
    names = [s.name for s in corpus]
    best = _choose(scored, synthetic_scores, passing, names)
    print(f"chosen by the rule: {_short(combos[best])}" if best is not None else "no set passes the scenario table")
    print("leave one category out (chosen by the rule from the rest, scored on the held-out):")
    for held_out in categories:
        training = [s.name for s in corpus if s.category != held_out]
        testing = [s.name for s in corpus if s.category == held_out]
        chosen = _choose(scored, synthetic_scores, passing, training)
        if chosen is not None:
            print(
                f"  hold out {held_out:24s} chosen {_short(combos[chosen])}: "
                f"training {nab_score([scored[chosen][n] for n in training]):6.2f}, "
                f"held-out {nab_score([scored[chosen][n] for n in testing]):6.2f}"
            )
    if production in combos:
        _print_production(scored[combos.index(production)], [s.name for s in corpus if not s.windows])


def _scenario_table():
    """tests/detection/incident_scenarios.py, the scenario table the tests and this benchmark share."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    return importlib.import_module("tests.detection.incident_scenarios")


def _score_grid(corpus: list[Series], combos: list[dict]):
    """Per set: each public file's scores, the synthetic hosts' NAB score, and whether the scenario table passes."""
    failing_scenarios = _scenario_table().failing_scenarios
    hosts = synthetic_hosts.corpus((1, 2, 3))
    scored, synthetic_scores, passing = [], [], []
    for combo in combos:
        with parameters(**combo):
            scored.append(
                {s.name: LabelledSeries(s.name, score_series(s.timestamps, s.values), s.windows) for s in corpus}
            )
            synthetic_scores.append(
                nab_score([LabelledSeries(name, score_series(t, x), windows) for name, t, x, windows in hosts])
            )
            passing.append(not failing_scenarios())
    return scored, synthetic_scores, passing


def _choose(scored, synthetic_scores, passing, names) -> int | None:
    """The set the rule picks when it may see the public files `names`."""
    allowed = [index for index, ok in enumerate(passing) if ok]
    if not allowed:
        return None
    return max(allowed, key=lambda i: nab_score([scored[i][n] for n in names]) + synthetic_scores[i])


def _print_production(chosen: dict, quiet: list[str]) -> None:
    result = score_corpus(list(chosen.values()), STANDARD)
    false_alarms = sum(int(np.sum(chosen[n].anomaly_scores >= result.threshold)) for n in quiet)
    print(
        f"  production parameters: {result.normalised:6.2f}; the no-anomaly files get {false_alarms} "
        f"detections at its threshold {result.threshold:.3f}"
    )


def _current(name: str):
    from smartcompute.detection import parameters as production

    return getattr(production, name)


def _short(combo: dict) -> str:
    return ", ".join(f"{name.lower()}={value:g}" for name, value in combo.items())


def rolling_robust_z(timestamps: np.ndarray, values: np.ndarray, window: int = 288) -> np.ndarray:
    """The peer a tutorial would write: |value - median| / (1.4826 MAD) over the last `window` samples (a MAD
    of zero, on a series that mostly sits still, is floored at 1% of the median)."""
    scores = np.zeros(values.size)
    for end in range(10, values.size):
        past = values[max(0, end - window) : end]
        median = np.median(past)
        spread = max(1.4826 * np.median(np.abs(past - median)), 0.01 * abs(median), 1e-9)
        z = abs(values[end] - median) / spread
        scores[end] = z / (z + 10.0)
    return scores


def half_space_trees(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """river's HalfSpaceTrees on min-max scaled values, learning as it scores."""
    from river import anomaly, preprocessing

    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(n_trees=25, height=15, window_size=250, seed=42)
    scores = np.empty(values.size)
    for index, value in enumerate(values):
        sample = {"value": float(value)}
        scores[index] = model.score_one(sample)
        model.learn_one(sample)
    return scores


def peers(corpus: list[Series]) -> None:
    print("side by side on the public files (standard profile; all / artificial / AWS):")
    detectors = {
        "smartcompute": score_series,
        "rolling robust z": rolling_robust_z,
        "HalfSpaceTrees (river)": half_space_trees,
    }
    for name, detector in detectors.items():
        started = time.perf_counter()
        scored = [LabelledSeries(s.name, detector(s.timestamps, s.values), s.windows) for s in corpus]
        elapsed = time.perf_counter() - started
        parts = [nab_score(scored)] + [
            nab_score([x for x, s in zip(scored, corpus) if s.category.startswith(prefix)])
            for prefix in ("artificial", "realAWS")
        ]
        print(
            f"  {name:24s} {parts[0]:6.2f} / {parts[1]:6.2f} / {parts[2]:6.2f}   "
            f"({sum(s.values.size for s in corpus) / elapsed:,.0f} points/s)"
        )


def synthetic() -> None:
    hosts = synthetic_hosts.corpus((1, 2, 3))
    scored = [LabelledSeries(name, score_series(t, x), windows) for name, t, x, windows in hosts]
    print(
        f"synthetic hosts shaped like the unseen NAB categories ({len(hosts)} series): standard "
        f"{nab_score(scored):6.2f}"
    )


def clean_scenarios() -> None:
    clean_hosts = _scenario_table().clean_hosts
    print("false incidents per day on clean hosts:")
    for name, host in clean_hosts().items():
        result, _ = analyze_anomalies(Telemetry(host.timestamps, host.metrics, "bench"), None)
        days = (host.timestamps.max() - host.timestamps.min()) / 86_400.0
        print(f"  {name:55s} {len(result['incidents']) / days:5.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument("--quick", action="store_true", help="a grid of four sets instead of seventy-two")
    parser.add_argument("--no-peers", action="store_true", help="skip the peers (HalfSpaceTrees takes ten minutes)")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.data)
    cross_validate(corpus, QUICK_GRID if args.quick else GRID)
    if not args.no_peers:
        peers(corpus)
    synthetic()
    clean_scenarios()
    return 0


if __name__ == "__main__":
    sys.exit(main())
