"""The worker's side alone: CPU per job of the celery main process, its prefork children, PostgreSQL and the
broker while a stopped worker drains a backlog, for the real pipeline and the bare one.

    python -m bench.worker_drain [--jobs 1500] [--broker rabbitmq] [--env NAME=VALUE] [--json out.json]

For each turn (bare, real, real, bare, as in `bench.platform_bench`) the pipeline's worker is stopped
(SIGSTOP), its API takes `--jobs` jobs, and the worker is let go. The CPU that each part spends from then until
the last job has finished is read from /proc. The API is idle by then, so these are the worker's costs without
the API competing for the two cores; `platform_bench` measures them under that competition. `--env` passes
a setting to both pipelines (e.g. TASK_EVENTS=false) to measure what it changes on the worker's side.
See bench/README.md, "Job platform".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from bench import load, platform_bench, procs
from tests.support import job_body

_PARTS = ("main", "children", "postgres", "broker")


def _part_seconds(worker: procs.Service, database: str, broker: str) -> dict[str, float]:
    return {
        "main": procs.cpu_seconds([worker.process.pid]),
        "children": procs.cpu_seconds(procs.descendants(worker.process.pid)),
        "postgres": platform_bench.postgres_cpu_seconds(database),
        "broker": platform_bench.broker_cpu_seconds(broker),
    }


def drain(
    bench: platform_bench.Bench, opts: platform_bench.Options, broker: str, *, bare: bool, jobs: int, body: bytes
) -> dict:
    """One turn: a warmed-up pipeline, `jobs` jobs queued behind its stopped worker, then the drain measured."""
    with platform_bench.pipeline(bench, opts, broker, bare=bare) as (base_url, (worker, _api)):
        submitter = platform_bench.new_submitter(bench, bare=bare)
        warmup = opts.warmup
        load.closed_loop(base_url, submitter.path, body, submitter.headers, total=warmup, clients=8, time_limit=120)
        platform_bench.wait_for_jobs(bench.engine, submitter.count_sql, submitter.params, warmup, 120)
        os.killpg(worker.process.pid, signal.SIGSTOP)
        try:
            sent = load.closed_loop(
                base_url, submitter.path, body, submitter.headers, total=jobs, clients=16, time_limit=180
            )
            database = bench.engine.url.database
            before, started = _part_seconds(worker, database, broker), time.time()
        finally:
            os.killpg(worker.process.pid, signal.SIGCONT)
        succeeded, failed, last_finished = platform_bench.wait_for_jobs(
            bench.engine, submitter.count_sql, submitter.params, warmup + len(sent.job_ids), 180
        )
        after = _part_seconds(worker, database, broker)
    seconds = max(last_finished - started, 1e-3)  # to the last finished_at: the poll's 0.25 s steps left out
    drained = max(succeeded + failed - warmup, 1)
    return {
        "jobs": drained,
        "failed": failed,
        "jobs_per_second": round(drained / seconds, 1),
        "cpu_ms_per_job": {part: round(1000 * (after[part] - before[part]) / drained, 3) for part in _PARTS},
    }


def run(opts: platform_bench.Options, broker: str, jobs: int) -> dict:
    body = json.dumps(job_body(points=1000)).encode()
    turns: dict[str, list[dict]] = {"bare": [], "real": []}
    with platform_bench.bench_environment(opts.extra_env) as bench:
        for kind in platform_bench.TURNS:
            print(f"[{broker}] {kind} worker draining {jobs} jobs ...", file=sys.stderr, flush=True)
            turns[kind].append(drain(bench, opts, broker, bare=kind == "bare", jobs=jobs, body=body))
    return turns


def report(turns: dict[str, list[dict]], broker: str, loop_seconds: tuple[float, float]) -> str:
    lines = [
        f"worker drain, {broker}: machine speed {loop_seconds[0]:.2f} s before, {loop_seconds[1]:.2f} s after "
        "(a fixed Python loop; lower is faster)",
        "",
        f"{'pipeline':8} {'jobs/s':>7}  CPU ms/job: {'main':>6} {'children':>8} {'pg':>6} {'broker':>6}",
    ]
    for kind in ("bare", "real"):
        for turn in turns[kind]:
            cpu = turn["cpu_ms_per_job"]
            lines.append(
                f"{kind:8} {turn['jobs_per_second']:7.1f}  {'':11} {cpu['main']:6.3f} "
                f"{cpu['children']:8.3f} {cpu['postgres']:6.3f} {cpu['broker']:6.3f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_drain", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1500, help="jobs each turn's worker drains (default 1500)")
    parser.add_argument("--broker", choices=("rabbitmq", "redis"), default="rabbitmq")
    parser.add_argument("--concurrency", type=int, default=4, help="celery --concurrency (default 4)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for both pipelines, e.g. TASK_EVENTS=false (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    opts = platform_bench.parse_options(
        ["--brokers", args.broker, "--concurrency", str(args.concurrency), *(f"--env={item}" for item in args.env)]
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    before = procs.python_loop_seconds()
    turns = run(opts, args.broker, args.jobs)
    loop_seconds = (before, procs.python_loop_seconds())
    print(report(turns, args.broker, loop_seconds))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "broker": args.broker,
                    "jobs": args.jobs,
                    "env": opts.extra_env,
                    "python_loop_seconds": loop_seconds,
                    "turns": turns,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
