"""Hosts as an SRE sees them, each with the incidents a user expects and a clean twin without them.

Every scenario is built from a fixed seed. Times are seconds after START (Monday 2026-11-23 00:00 UTC); most
hosts report once a minute, with CPU at 25% +- 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC
from collections.abc import Callable

import numpy as np

from smartcompute.detection.anomaly_report import analyze_anomalies
from smartcompute.detection.telemetry import Telemetry

START = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class Expected:
    """An incident a user expects: sample indices of its start and end (None: still open), and its kind."""

    start: int
    end: int | None
    kinds: tuple[str, ...]
    start_tolerance: int = 3  # samples either side
    end_tolerance: int = 3


@dataclass(frozen=True)
class Host:
    timestamps: np.ndarray
    metrics: dict[str, np.ndarray]


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[bool], tuple[Host, list[Expected]]]  # (with the anomaly?) -> host and expected incidents
    false_per_day: float = 1.0  # incidents allowed on the clean twin, per day of data


def minutes(count: int, step: float = MINUTE) -> np.ndarray:
    return START + np.arange(count) * step


def noisy_cpu(rng, count: int, level: float = 25.0, spread: float = 2.0) -> np.ndarray:
    return np.clip(level + rng.normal(0.0, spread, count), 0.0, 100.0)


def single_spike(anomalous: bool):
    rng = np.random.default_rng(1)
    cpu = noisy_cpu(rng, 400)
    if anomalous:
        cpu[200] = 99.0
    return Host(minutes(400), {"cpu_percent": cpu}), [Expected(200, 200, ("spike",), 0, 0)] if anomalous else []


def first_morning_spike(anomalous: bool):
    """A new host six hours old, busy and noisy (CPU 30% +- 6, memory 55% +- 3): one sample of CPU at 99% is
    still far outside."""
    rng = np.random.default_rng(12)
    cpu, memory = noisy_cpu(rng, 400, level=30.0, spread=6.0), noisy_cpu(rng, 400, level=55.0, spread=3.0)
    if anomalous:
        cpu[360] = 99.0
    expected = [Expected(360, 360, ("spike",), 0, 0)]
    return Host(minutes(400), {"cpu_percent": cpu, "memory_percent": memory}), expected if anomalous else []


def first_hours_jump(anomalous: bool):
    """A new host whose CPU jumps from 40% to 92% after its first 200 minutes and stays there to the job's end."""
    rng = np.random.default_rng(13)
    cpu = noisy_cpu(rng, 240, level=40.0, spread=4.0)
    if anomalous:
        cpu[200:] = noisy_cpu(rng, 40, level=92.0, spread=1.0)
    return Host(minutes(240), {"cpu_percent": cpu}), [Expected(200, None, ("level_shift",), 0)] if anomalous else []


def saturation(duration: int):
    def build(anomalous: bool):
        rng = np.random.default_rng(2)
        cpu = noisy_cpu(rng, 600 + duration)
        if anomalous:
            cpu[300 : 300 + duration] = np.clip(95.0 + rng.normal(0, 1, duration), 0, 100)
        expected = [Expected(300, 300 + duration - 1, ("level_shift",))]
        return Host(minutes(cpu.size), {"cpu_percent": cpu}), expected if anomalous else []

    return build


def second_incident(anomalous: bool):
    rng = np.random.default_rng(3)
    cpu = noisy_cpu(rng, 800)
    if anomalous:
        cpu[300:360] = 95.0 + rng.normal(0, 1, 60)
        cpu[410:470] = 95.0 + rng.normal(0, 1, 60)
    expected = [Expected(300, 359, ("level_shift",)), Expected(410, 469, ("level_shift",))]
    return Host(minutes(800), {"cpu_percent": cpu}), expected if anomalous else []


def memory_leak(anomalous: bool):
    rng = np.random.default_rng(4)
    memory = 40.0 + rng.normal(0, 0.5, 2300)
    if anomalous:
        memory[1000:2000] += np.arange(1000) * 0.05
        memory[2000:] += 50.0
    expected = [Expected(1000, None, ("drift",), start_tolerance=60)]
    return Host(minutes(2300), {"memory_percent": memory}), expected if anomalous else []


def stuck_sensor(anomalous: bool):
    rng = np.random.default_rng(5)
    cpu = noisy_cpu(rng, 600)
    if anomalous:
        cpu[300:400] = cpu[299]
    return Host(minutes(600), {"cpu_percent": cpu}), [Expected(299, 399, ("flatline",))] if anomalous else []


def daily_cycle(t: np.ndarray, peak_hour: float) -> np.ndarray:
    return np.cos(2 * np.pi * ((t - START) % DAY / HOUR - peak_hour) / 24)


def peak_at_the_wrong_time(anomalous: bool):
    rng = np.random.default_rng(6)
    t = minutes(9 * 1440)
    load = 40 + 25 * daily_cycle(t, 2.0) + rng.normal(0, 2, t.size)
    if anomalous:  # on the ninth day the night's peak comes at noon
        day = slice(8 * 1440, 9 * 1440)
        load[day] = 40 + 25 * daily_cycle(t[day], 12.0) + rng.normal(0, 2, 1440)
    # The day is wrong from midnight, when the load should be near its night peak; where the two curves cross,
    # the values are ordinary again, so the day may read as several incidents.
    expected = [Expected(8 * 1440, None, ("seasonal",), start_tolerance=60, end_tolerance=10**6)]
    return Host(t, {"load_percent": load}), expected if anomalous else []


def nightly_job(anomalous: bool):
    rng = np.random.default_rng(7)
    t = minutes(10 * 1440)
    cpu = noisy_cpu(rng, t.size, level=20)
    at_two = ((t - START) % DAY >= 2 * HOUR) & ((t - START) % DAY < 2 * HOUR + 15 * MINUTE)
    cpu[at_two] = 80.0 + rng.normal(0, 2, at_two.sum())
    return Host(t, {"cpu_percent": cpu}), []


def service_restart(anomalous: bool):
    rng = np.random.default_rng(8)
    cpu, memory = noisy_cpu(rng, 600), 60 + rng.normal(0, 0.5, 600)
    if anomalous:
        cpu[300:302], memory[300:302] = 0.0, 0.0
    expected = [Expected(300, 301, ("dropout",), 0, 0)]
    return Host(minutes(600), {"cpu_percent": cpu, "memory_percent": memory}), expected if anomalous else []


def disk_filling(anomalous: bool):
    rng = np.random.default_rng(9)
    disk = 50.0 + rng.normal(0, 0.05, 3000)
    if anomalous:
        disk[1500:] += np.arange(1500) * 0.02
    expected = [Expected(1500, None, ("drift",), start_tolerance=60)]
    return Host(minutes(3000), {"disk_used_percent": disk}), expected if anomalous else []


def backup_burst(anomalous: bool):
    rng = np.random.default_rng(10)
    t = minutes(8 * 1440)
    net = 2e6 * np.exp(rng.normal(0, 0.1, t.size))
    at_three = ((t - START) % DAY >= 3 * HOUR) & ((t - START) % DAY < 3 * HOUR + 30 * MINUTE)
    net[at_three] *= 20
    if anomalous:  # a transfer as big as the backup, at 15:00 on the last day
        burst = slice(7 * 1440 + 15 * 60, 7 * 1440 + 15 * 60 + 30)
        net[burst] *= 20
    expected = [Expected(7 * 1440 + 15 * 60, 7 * 1440 + 15 * 60 + 29, ("seasonal",))]
    return Host(t, {"net_out_bytes": net}), expected if anomalous else []


def noise(metric_count: int):
    def build(anomalous: bool):
        rng = np.random.default_rng(11)
        t = minutes(3 * 1440)
        return Host(t, {f"metric_{i:03d}": 100 + rng.normal(0, 5, t.size) for i in range(metric_count)}), []

    return build


SCENARIOS = [
    Scenario("a single sample at 99% after 200 normal ones", single_spike),
    Scenario("a sample at 99% on a new, noisy host's sixth hour", first_morning_spike),
    Scenario("CPU jumps from 40% to 92% in a new host's fourth hour", first_hours_jump),
    Scenario("CPU at 95% for 20 minutes", saturation(20)),
    Scenario("CPU at 95% for 60 minutes", saturation(60)),
    Scenario("CPU at 95% for 300 minutes", saturation(300)),
    Scenario("a second incident 50 samples after the first ends", second_incident),
    Scenario("a memory leak from 40% to 90%, then stuck there", memory_leak),
    Scenario("a sensor stuck at one value for 100 samples", stuck_sensor),
    Scenario("the night's peak at noon", peak_at_the_wrong_time),
    Scenario("a service restart drops CPU and memory to zero", service_restart),
    Scenario("a disk filling up", disk_filling),
    Scenario("a transfer the size of the nightly backup, in the afternoon", backup_burst),
]


def clean_hosts() -> dict[str, Host]:
    """Hosts with nothing wrong: each scenario's clean twin, a nightly job, and metrics of pure noise."""
    hosts = {f"{scenario.name} (clean twin)": scenario.build(False)[0] for scenario in SCENARIOS}
    hosts["a 15-minute job every night at 02:00, ten nights"] = nightly_job(False)[0]
    hosts["20 metrics of noise, three days"] = noise(20)(False)[0]
    hosts["100 metrics of noise, three days"] = noise(100)(False)[0]
    return hosts


def incidents_of(host: Host) -> list[dict]:
    result, _ = analyze_anomalies(Telemetry(host.timestamps, host.metrics, "scenario"), None)
    return result["incidents"]


def index_of(host: Host, text: str | None) -> int | None:
    if text is None:
        return None
    moment = np.datetime64(text.rstrip("Z")).astype("datetime64[ms]").astype(np.int64) / 1000.0
    return int(np.argmin(np.abs(host.timestamps - moment)))


def matches(host: Host, incident: dict, expected: Expected) -> bool:
    start, end = index_of(host, incident["start"]), index_of(host, incident["end"])
    if incident["kind"] not in expected.kinds or abs(start - expected.start) > expected.start_tolerance:
        return False
    if expected.end is None:
        return end is None or expected.end_tolerance >= 10**6
    return end is not None and abs(end - expected.end) <= expected.end_tolerance


def failing_scenarios() -> list[str]:
    """The scenarios whose expected incidents are not all found (the scenario table's verdict, for bench/)."""
    failing = []
    for scenario in SCENARIOS:
        host, expected = scenario.build(True)
        found = incidents_of(host)
        if not all(any(matches(host, incident, wanted) for incident in found) for wanted in expected):
            failing.append(scenario.name)
    return failing
