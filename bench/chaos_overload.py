"""Overload: twice what the workers drain is offered, and admission control keeps the backlog bounded.

    python -m bench.chaos --profile overload [--seed N] [--json out.json] [--without-shedding]

With LOAD_SHED_WAIT_SECONDS=10 and LOAD_SHED_QUEUED_JOBS=100 (this run's settings; the defaults are for a real
installation), the run measures what the installation drains (a burst of 150 jobs), offers half of it for 30 s
(the latency to keep), then twice it for 60 s, with the chaos profiles' mix of priorities and no callbacks.
Clients drop a job refused with 503 rather than retry it, so what is offered is what is counted. It reports by priority
what was offered, accepted and refused, the accepted jobs' time from submission to finish at half and at twice
the capacity, the Retry-After given, and the backlog; then the chaos run's invariants: nothing accepted is lost.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict

from sqlalchemy import text

from bench.chaos_invariants import Check, Report
from bench.chaos_load import PRIORITIES, Load, LoadRecord
from bench.chaos_stack import BacklogMonitor, Stack, checked, drain, running_stack

WAIT_LIMIT_SECONDS, QUEUED_LIMIT = 10, 100
SETTINGS = {
    "LOAD_SHED_WAIT_SECONDS": str(WAIT_LIMIT_SECONDS),
    "LOAD_SHED_QUEUED_JOBS": str(QUEUED_LIMIT),
    "REPUBLISH_INTERVAL": "5",
    "REPUBLISH_UNSENT_AFTER": "5",
    "REPUBLISH_MISSING_AFTER": "10",
}
BURST, HALF_SECONDS, OVERLOAD_SECONDS, CLIENTS = 150, 30, 60, 8

_LATENCY = text("""
    SELECT priority, count(*) AS jobs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) AS p95
    FROM jobs WHERE status = 'succeeded' AND created_at >= :since AND created_at < :until GROUP BY priority""")
_CAPACITY = text("""
    SELECT count(*) / greatest(extract(epoch FROM max(finished_at) - min(started_at)), 0.001)
    FROM jobs WHERE status = 'succeeded' AND created_at >= :since""")


def run(seed: int, *, shedding: bool = True, keep: bool = False, log=print) -> Report:
    """`shedding=False`: the same run with LOAD_SHED_* at 0, for comparison."""
    log(f"chaos: profile overload, seed {seed}, load shedding {'on' if shedding else 'off'}")
    settings = SETTINGS if shedding else {**SETTINGS, "LOAD_SHED_WAIT_SECONDS": "0", "LOAD_SHED_QUEUED_JOBS": "0"}
    with running_stack(settings, seed, accounts_count=8, payments_count=0, keep=keep, log=log) as stack:
        started = time.monotonic()
        record = LoadRecord()
        with BacklogMonitor(stack.engine, started) as backlog:
            capacity = _capacity(stack, seed, started, record)
            log(f"chaos: the workers drain {capacity:.1f} jobs/s; half of it for {HALF_SECONDS} s")
            half = _phase(stack, capacity / 2, HALF_SECONDS, seed + 1, started, record)
            log(f"chaos: twice it for {OVERLOAD_SECONDS} s")
            window = _now(stack)
            overload = _phase(stack, capacity * 2, OVERLOAD_SECONDS, seed + 2, started, record)
            overload_window = (window, _now(stack))
            drained_after = drain(stack.engine, 180)
        samples = [sample for sample in backlog.samples if sample[0] >= overload.started_at]
        outcome, checks = checked(stack, record, [], backlog, time.monotonic() - started, drained_after)
        checks = [*_overload_checks(stack, capacity, half, overload, overload_window, samples), *checks]
    return Report(
        "overload",
        seed,
        checks,
        {
            "capacity": capacity,
            "backlog": outcome.backlog,
            "exchanges": [asdict(each) for each in overload.load.record.exchanges],
        },
    )


class _Phase:
    def __init__(self, load: Load, since, until, started_at: float):
        self.load, self.since, self.until, self.started_at = load, since, until, started_at


def _now(stack: Stack):
    with stack.engine.connect() as connection:
        return connection.execute(text("SELECT clock_timestamp()")).scalar()


def _phase(stack: Stack, rate: float, seconds: float, seed: int, started: float, record: LoadRecord) -> _Phase:
    since, at = _now(stack), time.monotonic() - started
    load = stack.load(
        rate=rate,
        clients=CLIENTS,
        seed=seed,
        seconds=seconds,
        started=started,
        payments=False,
        retry_refused=False,
        callback_share=0,
    )
    load.start()
    time.sleep(seconds)
    load.stop(timeout=60)
    record.extend(load.record)
    return _Phase(load, since, _now(stack), at)


def _capacity(stack: Stack, seed: int, started: float, record: LoadRecord) -> float:
    """Jobs finished per second from the first start to the last finish of a burst of BURST jobs, sent faster than
    the workers take them (so they are never idle), with the API taking the burst on the same cores."""
    since = _now(stack)
    burst = stack.load(
        rate=BURST / 3, clients=CLIENTS, seed=seed, seconds=3, started=started, payments=False, callback_share=0
    )
    burst.start()
    time.sleep(3)
    burst.stop(timeout=60)
    record.extend(burst.record)
    drain(stack.engine, 300)
    with stack.engine.connect() as connection:
        return float(connection.execute(_CAPACITY, {"since": since}).scalar())


def _overload_checks(stack: Stack, capacity: float, half: _Phase, overload: _Phase, window, samples) -> list[Check]:
    with stack.engine.connect() as connection:
        calm = {row.priority: row for row in connection.execute(_LATENCY, {"since": half.since, "until": half.until})}
        busy = {row.priority: row for row in connection.execute(_LATENCY, {"since": window[0], "until": window[1]})}
    accepted = Counter(job.priority for job in overload.load.record.accepted)
    refused = Counter(each.priority for each in overload.load.record.exchanges if each.kind == "submit" and each.shed)
    waits = sorted(int(each.retry_after) for each in overload.load.record.exchanges if each.shed)
    offered = sum(accepted.values()) + sum(refused.values())
    by_priority = "; ".join(
        f"{priority}: {accepted[priority]} accepted, {refused[priority]} refused, "
        f"p50/p95 {_seconds(calm.get(priority))} at half capacity, {_seconds(busy.get(priority))} at twice"
        for priority, _ in PRIORITIES
    )
    peak = max((sample[1] for sample in samples), default=0)
    oldest = max((sample[3] for sample in samples), default=0.0)
    bounded = oldest <= 2 * WAIT_LIMIT_SECONDS and peak <= 2 * QUEUED_LIMIT
    slowest = max((row.p95 for row in busy.values()), default=0.0)
    return [
        Check("capacity", "INFO", f"{capacity:.1f} jobs/s drained (a burst of {BURST} jobs)"),
        Check(
            "offered at twice the capacity",
            "INFO",
            f"{offered / OVERLOAD_SECONDS:.1f} jobs/s for {OVERLOAD_SECONDS} s: {by_priority}",
        ),
        Check(
            "the backlog stays bounded",
            "PASS" if bounded else "FAIL",
            f"at most {peak} queued (limit {QUEUED_LIMIT}), the oldest waited at most {oldest:.0f} s (limit "
            f"{WAIT_LIMIT_SECONDS} s); "
            + (f"Retry-After {waits[0]}-{waits[-1]} s (median {waits[len(waits) // 2]})" if waits else "no refusal"),
        ),
        Check(
            "accepted jobs keep their latency",
            "PASS" if slowest <= 2 * WAIT_LIMIT_SECONDS else "FAIL",
            f"the slowest priority's p95 from submission to finish: {slowest:.1f} s at twice the capacity",
        ),
    ]


def _seconds(row) -> str:
    return f"{row.p50:.1f}/{row.p95:.1f} s" if row is not None else "-"
